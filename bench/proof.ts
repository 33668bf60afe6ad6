// `npm run proof`: the figures behind "a broken or hostile server costs only itself", measured on
// a real OpenSSH sshd on loopback with the real daemon binary:
//   flood    a notifier that floods garbage: peak RSS, log lines written, STOP time
//   restarts sshd restarted 20 times, 1-3 s after each catch-up, a push in each outage: restart -> fetched
//   stall    every server process of the connection frozen, default keepalive: time to notice
//   idle     10 connected ssh remotes, then 50 local remotes, nothing happening: CPU over a minute
//            (idle-ssh, idle-local: one of the two)
//            beside bare waiting workers over the same minute, and which threads woke how often
//   memory   PSS per added local remote beside a bare waiting Worker's (the floor of one thread
//            per remote), 50 local remotes with their children, and what each import adds

import { startDaemon, eventually, type RunningDaemon } from '../test/support/daemon.js';
import { git, refValue } from '../test/support/git.js';
import { makeSshFixture, type SshFixture } from '../test/ssh/fixture.js';
import type { StartSshdOptions } from '../test/support/sshd.js';
import { cpuNs, procStatus, pssMb, threadSamples, threadUse, type ThreadSample } from './procfs.js';
import { startFloor } from './floor.js';
import { WORKER_V8_FLAGS } from '../src/supervisor.js';
import { localMemory, withLocalRemotes } from './local.js';
import { median, report } from './report.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function withDaemon<T>(opts: StartSshdOptions, configure: (fx: SshFixture) => void, body: (fx: SshFixture, d: RunningDaemon) => Promise<T>): Promise<T> {
  const fx = await makeSshFixture(opts);
  git(fx.local, 'config', 'core.sshCommand', fx.sshd.sshCommand);
  configure(fx);
  const d = startDaemon(fx.local);
  try {
    return await body(fx, d);
  } finally {
    await d.stop();
    await fx.cleanup();
  }
}

async function serverCommit(fx: SshFixture, message: string): Promise<string> {
  const run = (argv: string[]) => fx.sshd.runAsUser(['git', '-C', fx.remotePath, ...argv], { env: { GIT_AUTHOR_NAME: 'A', GIT_AUTHOR_EMAIL: 'a@b', GIT_COMMITTER_NAME: 'A', GIT_COMMITTER_EMAIL: 'a@b' } });
  const parent = (await run(['rev-parse', 'main'])).stdout.trim();
  const tree = (await run(['rev-parse', 'main^{tree}'])).stdout.trim();
  const sha = (await run(['commit-tree', '-p', parent, '-m', message, tree])).stdout.trim();
  await run(['update-ref', 'refs/heads/main', sha]);
  return sha;
}

async function flood(): Promise<void> {
  const shims = { 'garbage-notifier': "#!/bin/sh\necho READY\nexec yes 'not a notifier line'\n" };
  await withDaemon(
    { serverBin: { gitRemoteDaemon: true, shims } },
    (fx) => git(fx.local, 'config', 'remote.origin.remotedaemon-notifier', 'garbage-notifier'),
    async (_fx, d) => {
      await d.waitFor('CONNECTED origin', { timeoutMs: 20_000 });
      let peak = 0;
      for (let i = 0; i < 25; i++) {
        peak = Math.max(peak, procStatus(d.child.pid!, 'VmRSS') / 1024);
        await sleep(200);
      }
      const stopAt = Date.now();
      d.send('STOP');
      const { at } = await d.exited;
      report('flood: peak daemon RSS over 5 s (target < 150 MB)', `${peak.toFixed(0)} MB`);
      report('flood: log lines written in 5 s / WARNINGs', `${d.stderr.length} / ${d.lines.filter((l) => l.startsWith('WARNING')).length}`);
      report('flood: STOP to exit (target < 2000 ms)', `${at - stopAt} ms`);
    },
  );
}

/**
 * Issue 17's restart figure: 20 cycles of "sshd stopped, push made, sshd started", each a few
 * seconds after the last catch-up (younger than any "healthy after some seconds" would allow). A
 * push not fetched within 20 s gets a RESUME, and counts as not fetched without it.
 */
async function restarts(rounds = 20): Promise<void> {
  await withDaemon({ serverBin: { gitRemoteDaemon: true } }, () => {}, async (fx, d) => {
    await d.waitFor('CONNECTED origin', { timeoutMs: 20_000 });
    await eventually(() => refValue(fx.local, 'refs/remotes/origin/main') !== undefined, 'first catch-up', 20_000);
    const took: number[] = [];
    let fetched = 0;
    for (let round = 1; round <= rounds; round++) {
      await sleep(1000 + Math.random() * 2000); // 1-3 s after the last catch-up
      await fx.sshd.stop();
      await d.waitForCount('DISCONNECTED origin', round, 20_000);
      const sha = await serverCommit(fx, `outage ${round}`);
      await sleep(500 + Math.random() * 2500); // outages of 0.5-3 s
      await fx.sshd.start();
      const at = Date.now();
      const landed = () => refValue(fx.local, 'refs/remotes/origin/main') === sha;
      try {
        await eventually(landed, 'fetched', 20_000);
        fetched++;
        took.push(Date.now() - at);
      } catch {
        took.push(Infinity);
        d.send('RESUME'); // so the next round starts connected
        await eventually(landed, 'fetched after RESUME', 30_000);
      }
    }
    const med = median(took);
    const max = Math.max(...took);
    const met = fetched === rounds && med <= 2000 && max <= 5000;
    report(`restarts: pushes fetched without RESUME, of ${rounds} (target all)`, `${fetched}`);
    report('restarts: restart -> fetched (target median <= 2 s, max <= 5 s)', `median ${med.toFixed(0)} ms, max ${max.toFixed(0)} ms: ${met ? 'met' : 'not met'}`);
    report('restarts: each round, restart -> fetched', took.map((ms) => (Number.isFinite(ms) ? (ms / 1000).toFixed(1) : 'RESUME')).join(' '));
  });
}

async function stall(): Promise<void> {
  await withDaemon({ serverBin: { gitRemoteDaemon: true } }, () => {}, async (fx, d) => {
    await d.waitFor('CONNECTED origin', { timeoutMs: 20_000 });
    await sleep(1000);
    const frozen = fx.sshd.freezeConnections();
    const at = Date.now();
    try {
      await d.waitFor('DISCONNECTED origin', { timeoutMs: 60_000 });
      const took = Date.now() - at;
      const reason = d.lines.find((l) => /^WARNING origin .*stalled/.test(l)) ?? d.stderr.find((l) => /stalled/.test(l)) ?? '(no stall reported)';
      report('stall: noticed with default keepalive (target <= 20 s)', `${(took / 1000).toFixed(1)} s`);
      report('stall: reported as', reason.slice(0, 110));
    } finally {
      fx.sshd.thaw(frozen);
    }
  });
}

/** The remotes' worker threads, from the `<remote>: runs in thread <tid>` lines of a verbose daemon. */
function remoteThreads(d: RunningDaemon): Map<number, string> {
  const threads = new Map<number, string>();
  for (const line of d.stderr) {
    const match = /^(.+): runs in thread (\d+)$/.exec(line);
    if (match) threads.set(Number(match[2]), match[1]!);
  }
  return threads;
}

/** How long an idle daemon (and the floor beside it) is left alone before its CPU is measured. */
const SETTLE_MS = 45_000;

const pct = (ns: number, seconds: number) => (ns / 1e9 / seconds) * 100;
const verdict = (met: boolean) => (met ? 'met' : 'NOT MET');

/**
 * CPU of an idle daemon over `seconds`, beside the floor measured over the same seconds: a bare
 * Node process with as many worker threads that only wait. CPU time (the scheduler's exact run
 * time of every thread), not wall time: the machine is shared, and what counts is what the daemon
 * itself spent. Then where its wake-ups came from: each thread's wake-ups, CPU and ticks.
 */
async function idleCost(label: string, d: RunningDaemon, remotes: number, seconds: number, targetPct: number): Promise<void> {
  const pid = d.child.pid!;
  const floor = await startFloor();
  await floor.add(remotes);
  // Past start-up for both: catch-ups done, cat-files ended, and V8's start-up collections (its
  // memory reducer runs for the first half minute or so of every thread) over.
  await sleep(SETTLE_MS);
  const before = threadSamples(pid);
  const floorBefore = cpuNs(floor.pid);
  await sleep(seconds * 1000);
  const use = threadUse(before, threadSamples(pid));
  const floorUsed = cpuNs(floor.pid) - floorBefore;
  await floor.stop();
  const ours = pct(sum(use.map((t) => t.cpuNs)), seconds);
  report(
    `idle: ${label}, CPU time over ${seconds} s (target < ${targetPct} %)`,
    `${ours.toFixed(3)} % of a core (floor, ${remotes} waiting workers: ${pct(floorUsed, seconds).toFixed(3)} %) ${verdict(ours < targetPct)}`,
  );
  const labels = remoteThreads(d);
  const groups = {
    main: use.filter((t) => t.tid === pid),
    remotes: use.filter((t) => labels.has(t.tid)),
    other: use.filter((t) => t.pid === pid && t.tid !== pid && !labels.has(t.tid)),
    children: use.filter((t) => t.pid !== pid),
  };
  const perMinute = (n: number) => ((n * 60) / seconds).toFixed(1);
  const ms = (ts: ThreadSample[]) => sum(ts.map((t) => t.cpuNs)) / 1e6;
  const line = (ts: ThreadSample[]) =>
    `${perMinute(sum(ts.map((t) => t.wakeups)))} wake-ups/min, ${ms(ts).toFixed(1)} ms CPU (${sum(ts.map((t) => t.ticks))} ticks)`;
  const remoteWakeups = groups.remotes.map((t) => t.wakeups);
  const wakeups = sum(groups.remotes.map((t) => t.wakeups));
  report(`idle: ${label}, where the wake-ups come from`, `main thread ${line(groups.main)}`);
  report(
    '',
    `${groups.remotes.length} remote threads ${line(groups.remotes)} (each: median ${perMinute(median(remoteWakeups))}/min, max ${perMinute(Math.max(...remoteWakeups))}/min; ` +
      `${wakeups ? ((ms(groups.remotes) * 1000) / wakeups).toFixed(0) : '-'} us CPU per wake-up)`,
  );
  report('', `${groups.other.length} other threads (V8, libuv) ${line(groups.other)}; ${new Set(groups.children.map((t) => t.pid)).size} child processes ${line(groups.children)}`);
  report(
    `idle: ${label}, each thread`,
    use
      .filter((t) => t.pid === pid && (t.cpuNs > 0 || t.wakeups > 0))
      .map((t) => `${labels.get(t.tid) ?? (t.tid === pid ? 'main' : t.name)} ${perMinute(t.wakeups)}/min ${(t.cpuNs / 1e6).toFixed(1)} ms ${t.ticks} t`)
      .join(', '),
  );
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

async function idleSsh(remotes = 10, seconds = 60): Promise<void> {
  await withDaemon(
    { serverBin: { gitRemoteDaemon: true } },
    (fx) => {
      for (let i = 1; i < remotes; i++) {
        git(fx.local, 'remote', 'add', `r${i}`, fx.url);
        git(fx.local, 'config', `remote.r${i}.fetch`, `+refs/heads/*:refs/remotes/r${i}/*`);
      }
    },
    async (_fx, d) => {
      await d.waitForCount(/^CONNECTED /, remotes, 60_000);
      await idleCost(`${remotes} connected ssh remotes`, d, remotes, seconds, 0.3);
    },
  );
}

async function idleLocal(remotes = 50, seconds = 60): Promise<void> {
  await withLocalRemotes(remotes, ['--foreground', '--verbose'], async (d) => {
    await idleCost(`${remotes} local remotes`, d, remotes, seconds, 1);
  });
}

async function idle(): Promise<void> {
  await idleSsh();
  await idleLocal();
}

/** PSS per added worker thread of a floor process whose workers import `imports` (none: the bare floor). */
async function floorPerWorker(imports: string[] = [], v8Flags?: string, added = 10): Promise<number> {
  const floor = await startFloor(imports, v8Flags);
  try {
    await floor.add(1);
    await sleep(2000);
    const one = pssMb([floor.pid]);
    await floor.add(added);
    await sleep(4000);
    return (pssMb([floor.pid]) - one) / added;
  } finally {
    await floor.stop();
  }
}

async function memory(): Promise<void> {
  const floor = await floorPerWorker();
  // 12 s: past the cat-files' idle time, as a daemon is most of its life.
  const measure = (remotes: number) => localMemory(remotes, 12_000);
  const one = await measure(1);
  const ten = await measure(10);
  const fifty = await measure(50);
  const perRemote = (ten.pssMb - one.pssMb) / 9;
  report(
    `memory: PSS per added local remote (target <= floor + 1.5 = ${(floor + 1.5).toFixed(1)} MB)`,
    `${perRemote.toFixed(1)} MB vs floor ${floor.toFixed(1)} MB (bare waiting Worker): ours ${(perRemote - floor).toFixed(1)} MB ${verdict(perRemote <= floor + 1.5)}`,
  );
  report('', `(1: ${one.pssMb.toFixed(0)} MB, 10: ${ten.pssMb.toFixed(0)} MB, 50: ${fifty.pssMb.toFixed(0)} MB; 1 -> 50: ${((fifty.pssMb - one.pssMb) / 49).toFixed(1)} MB per remote)`);
  report('memory: 50 local remotes, PSS with children (target <= 450 MB)', `${fifty.treePssMb.toFixed(0)} MB (${fifty.children} child processes) ${verdict(fifty.treePssMb <= 450)}`);
  // What a worker's imports cost, each measured as a floor process whose workers import it, with
  // the V8 flags the daemon's pool sets and without them.
  const module = (path: string) => new URL(`../${path}`, import.meta.url).href;
  const steps: [string, string[]][] = [
    ['loaded as an ES module (as piscina loads tasks)', ['node:worker_threads']],
    ['+ the session (workers/session.js)', [module('workers/session.js')]],
    ['+ the local transport', [module('workers/session.js'), module('workers/local/transport.js')]],
    ['+ the ssh transport', [module('workers/session.js'), module('workers/ssh/transport.js')]],
  ];
  const over = (mb: number) => `${mb - floor >= 0 ? '+' : ''}${(mb - floor).toFixed(1)}`;
  for (const [what, imports] of steps) {
    const plain = await floorPerWorker(imports);
    const flagged = await floorPerWorker(imports, WORKER_V8_FLAGS);
    report(`memory: a waiting worker ${what}`, `${over(flagged)} MB over the floor with ${WORKER_V8_FLAGS}, ${over(plain)} MB without`);
  }
}

const only = process.argv.slice(2);
const sections: Record<string, () => Promise<void>> = { flood, restarts, stall, idle, memory };
/** Parts of a section, run only when named. */
const parts: Record<string, () => Promise<void>> = { 'idle-ssh': () => idleSsh(), 'idle-local': () => idleLocal() };
console.log(`git-remote-daemon proof (node ${process.version}): ${only.length ? only.join(', ') : 'all sections'}\n`);
for (const [name, section] of Object.entries(sections)) if (!only.length || only.includes(name)) await section();
for (const [name, part] of Object.entries(parts)) if (only.includes(name)) await part();
