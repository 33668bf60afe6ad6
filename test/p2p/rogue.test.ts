// What an allowed peer can make us do and learn, attacked from outside the process by a hand-made
// peer (test/p2p/rogue.ts): offers of made-up values cost a few fetches, not one each; what it
// makes our node hold is bounded; one key gets a few connections, not hundreds; and a peer that
// may only fetch from us hears nothing of our other remotes.
//
// The figures for the flood (fetches run, CPU used) are printed; GRD_FLOOD_SECONDS sets how long
// it lasts (20 s by default, as in the report of issue 16).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tree } from '../../bench/procfs.js';
import { normaliseUrl } from '../../workers/notice/format.js';
import { commit, git, refValue } from '../support/git.js';
import { eventually, startDaemon, type RunningDaemon } from '../support/daemon.js';
import { logged, makePeers } from './support.js';
import { makeRogue } from './rogue.js';

const FLOOD_MS = Number(process.env.GRD_FLOOD_SECONDS ?? 20) * 1000;

/** CPU seconds the daemon, its live descendants and every child it has reaped used so far. */
function cpuSeconds(root: number): number {
  let ticks = 0;
  for (const pid of tree(root)) {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch {
      // gone
    }
  }
  return ticks / 100;
}

async function nodePid(d: RunningDaemon): Promise<number> {
  return Number(/peer node up \(pid (\d+)\)/.exec(await logged(d, /peer node up/))![1]);
}

const rssMb = (pid: number) => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

/** A daemon for `a` that fetches from a rogue serving its own seeded repository. */
async function fetchingFromRogue(t: { after(fn: () => unknown): void }) {
  const p = await makePeers(t);
  const a = p.make('a', { seed: true });
  const served = p.make('served', { seed: true });
  const rogue = await makeRogue(t, p, { serve: join(served, '.git') });
  git(a, 'remote', 'add', 'evil', rogue.address);
  const da = startDaemon(a, ['--foreground', '--verbose'], p.env);
  t.after(() => da.stop());
  await da.waitFor('DONESYNCING evil 1', { timeoutMs: 30_000 });
  const link = await rogue.linkedByThem;
  return { p, a, served, rogue, da, link };
}

test('an offer flood of made-up values costs a few fetches, not one per offer', async (t) => {
  const { da, link, a, served } = await fetchingFromRogue(t);
  await da.waitFor('CONNECTED evil');
  const fetches = () => da.lines.filter((l) => l === 'SYNCING evil').length;
  const before = fetches();
  const cpu = cpuSeconds(da.child.pid!);
  const started = Date.now();
  let offers = 0;
  while (Date.now() - started < FLOOD_MS) {
    link.refs([['refs/heads/main', randomBytes(20).toString('hex')]]);
    offers++;
    // The flood's pace (50 offers a second), part of the scenario, not a wait for anything.
    await new Promise((r) => setTimeout(r, 20));
  }
  // Whatever the flood started is finished before it is counted.
  await eventually(() => da.lines.at(-1)?.startsWith('DONESYNCING') === true || fetches() === before, 'the last fetch finished', 20_000);
  const run = fetches() - before;
  const used = cpuSeconds(da.child.pid!) - cpu;
  console.log(`offer flood: ${offers} offers of made-up values over ${FLOOD_MS / 1000} s: ${run} fetches, ${used.toFixed(1)} s of CPU in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  assert.ok(run <= 8, `${run} fetches for ${offers} made-up offers`);
  // The peer's real refs still arrive: a real change it offers is fetched.
  const real = commit(served, 'real change');
  link.refs([['refs/heads/main', real]]);
  await eventually(() => refValue(a, 'refs/remotes/evil/main') === real, 'the real change was fetched', 60_000);
});

test('a made-up value a fetch did not deliver is not fetched again, however often it is offered', async (t) => {
  const { da, link } = await fetchingFromRogue(t);
  await da.waitFor('CONNECTED evil');
  const bogus = 'b'.repeat(40);
  const from = da.lines.length;
  link.refs([['refs/heads/main', bogus]]);
  await da.waitFor(/^DONESYNCING evil/, { from, timeoutMs: 20_000 });
  const logFrom = da.stderr.length;
  // Offered again, a few at a time with pauses longer than any hold-off of the first few rounds.
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 10; i++) link.refs([['refs/heads/main', bogus]]);
    await logged(da, /not fetched again/, 10_000, logFrom);
    // The scenario's pause, not a wait for an event: it lets any hold-off of the early rounds run out,
    // so a fetch that the value were only held off (not refused) from would start here.
    await new Promise((r) => setTimeout(r, 1500));
  }
  assert.equal(da.lines.slice(from).filter((l) => l === 'SYNCING evil').length, 1, da.lines.slice(from).join('\n'));
});

test('what a peer makes our node hold is bounded: huge lists of refs it holds close its link, memory stays put', async (t) => {
  const p = await makePeers(t);
  const a = p.make('a', { seed: true });
  const rogue = await makeRogue(t, p);
  git(a, 'config', '--add', 'remotedaemon.p2p.allow', rogue.address);
  const da = startDaemon(a, ['--foreground', '--verbose'], p.env);
  t.after(() => da.stop());
  const pid = await nodePid(da);
  const link = await rogue.dial(p.address('a'));
  const rss = rssMb(pid);
  const long = `refs/remotes/a/${'x'.repeat(900)}`;
  // Many lists small enough to pass one by one (half a megabyte each), 100 MB in all...
  for (let m = 0; m < 200; m++) link.have(Array.from({ length: 500 }, (_, i) => [`${long}/small/${m}/${i}`, 'a'.repeat(40)]));
  // ...then ten lists of 10,000 refs with kilobyte names: within the per-message count, 10 MB each.
  for (let m = 0; m < 10; m++) link.have(Array.from({ length: 10_000 }, (_, i) => [`${long}/${m}/${i}`, 'a'.repeat(40)]));
  await link.closed;
  const grown = rssMb(pid) - rss;
  console.log(`have flood: peer node ${rss.toFixed(0)} MB before, ${(rss + grown).toFixed(0)} MB after`);
  assert.match(await logged(da, /closing the link to .*: it sent/), /more than the 16 MiB/);
  assert.ok(grown < 60, `the peer node grew by ${grown.toFixed(0)} MB`);
});

test('one key gets a few connections at once, not dozens', async (t) => {
  const p = await makePeers(t);
  const a = p.make('a', { seed: true });
  const rogue = await makeRogue(t, p);
  git(a, 'config', '--add', 'remotedaemon.p2p.allow', rogue.address);
  const da = startDaemon(a, ['--foreground', '--verbose'], p.env);
  t.after(() => da.stop());
  await logged(da, /peer node up/);
  for (let i = 0; i < 30; i++) rogue.connect(p.address('a'));
  // The first few are accepted; the rest are refused at the handshake or closed on arrival.
  await logged(da, /refused a connection from .*: it has 6 already/, 60_000);
  const accepted = da.stderr.filter((l) => /accepted a connection from/.test(l)).length;
  console.log(`connection flood: 30 connections with one key, ${accepted} accepted`);
  assert.ok(accepted <= 6, `${accepted} connections accepted`);
});

test('a serve-only peer hears no notices of our other remotes, even claiming them; our own device that has the remote does', async (t) => {
  const p = await makePeers(t);
  const forge = join(p.root, 'forge.git');
  git(p.root, 'init', '-q', '--bare', '-b', 'main', forge);
  const a = p.make('a', { seed: true });
  git(a, 'push', '-q', forge, 'main');
  git(a, 'remote', 'add', 'forge', forge);
  const device = await makeRogue(t, p, { serve: join(p.make('device', { seed: true }), '.git') });
  const snoop = await makeRogue(t, p);
  git(a, 'remote', 'add', 'device', device.address);
  git(a, 'config', '--add', 'remotedaemon.p2p.allow', snoop.address);
  const da = startDaemon(a, ['--foreground', '--verbose'], p.env);
  t.after(() => da.stop());
  const shared = [normaliseUrl(forge)];
  const deviceLink = await device.linkedByThem;
  deviceLink.remotes(shared);
  const snoopLink = await snoop.dial(p.address('a'));
  snoopLink.remotes(shared); // a lie: it is no device of ours, whatever it says it has
  await da.waitFor('CONNECTED forge', { timeoutMs: 30_000 });
  await da.waitFor('CONNECTED device', { timeoutMs: 30_000 });
  // Someone pushes to the forge; A fetches it, its tracking ref moves: that is a notice.
  const pusher = p.make('pusher');
  git(pusher, 'fetch', '-q', forge, 'main');
  git(pusher, 'checkout', '-q', '-b', 'main', 'FETCH_HEAD');
  const sha = commit(pusher, 'pushed elsewhere');
  git(pusher, 'push', '-q', forge, 'main');
  await eventually(() => device.notices.some((n) => n.includes(sha)), 'our device heard the notice', 20_000);
  assert.deepEqual(snoop.notices, []);
});
