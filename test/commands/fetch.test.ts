// `fetch [--wait] [<remote>...]` (src/commands/fetch.ts) against a stand-in daemon, this process,
// whose state file the test writes: remotes it does not act on are refused before anything is
// sent, and --wait reads each remote's outcome from the state file as the daemon would write it.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { fetchCommand } from '../../src/commands/fetch.js';
import { NOT_RUNNING, REFUSED } from '../../src/commands/send.js';
import { writeState, type DaemonState } from '../../src/background/state.js';
import type { RemoteStatus } from '../../src/coordinator.js';
import type { DaemonPaths } from '../../src/background/paths.js';
import { eventually } from '../support/daemon.js';
import { pipeReader, repoHere, standIn } from '../support/standin.js';

function remote(name: string, more: Partial<RemoteStatus> = {}): RemoteStatus {
  return { name, transport: 'file', url: `/srv/${name}.git`, phase: { kind: 'connected', attempt: 1, since: 0 }, connected: true, since: 0, warnings: [], ...more };
}

function state(remotes: RemoteStatus[], more: Partial<DaemonState> = {}): DaemonState {
  return { version: 1, pid: process.pid, startedAt: 0, updatedAt: Date.now(), cwd: '/repo', mode: 'running', logTo: 'file', remotes, ...more };
}

/** A repository whose stand-in daemon runs in the background, has written `initial` and reads its pipe. */
async function daemonWith(t: TestContext, initial: DaemonState): Promise<{ repo: string; paths: DaemonPaths; pipe: { read(): string } }> {
  const { repo, paths } = repoHere(t);
  await standIn(t, paths, 'background');
  writeState(paths.state, initial);
  return { repo, paths, pipe: pipeReader(t, paths) };
}

function sayer(): { say(line: string): void; said: string[] } {
  const said: string[] = [];
  return { said, say: (line) => said.push(line) };
}

test('no daemon: NOT_RUNNING; a --foreground one: exit 1, FETCH goes on its stdin', async (t) => {
  const { repo, paths } = repoHere(t);
  const s = sayer();
  const none = await fetchCommand(repo, [], {}, s.say);
  assert.equal(none.code, NOT_RUNNING);
  assert.match(none.message!, /^no daemon is running in this repository/);
  await standIn(t, paths, 'foreground');
  const foreground = await fetchCommand(repo, [], {}, s.say);
  assert.equal(foreground.code, 1);
  assert.match(foreground.message!, /runs with --foreground: send FETCH on its stdin/);
  assert.deepEqual(s.said, []);
});

test('a remote the daemon does not act on is refused with why, before anything is sent', async (t) => {
  const d = await daemonWith(t, state([remote('origin'), remote('mirror')], { ignored: [{ name: 'old', reason: 'remote.old.remotedaemon is false' }] }));
  const s = sayer();
  assert.deepEqual(await fetchCommand(d.repo, ['origin', 'old'], {}, s.say), {
    code: REFUSED,
    message: 'the daemon does not act on remote old: remote.old.remotedaemon is false',
  });
  assert.deepEqual(await fetchCommand(d.repo, ['nope'], {}, s.say), {
    code: REFUSED,
    message: 'no remote named nope is acted on by the daemon (it acts on: origin, mirror)',
  });
  assert.equal(d.pipe.read(), '', 'nothing was sent');
  assert.deepEqual(s.said, []);
});

test('a daemon acting on no remote: nothing to fetch, named or not', async (t) => {
  const d = await daemonWith(t, state([]));
  const s = sayer();
  assert.equal((await fetchCommand(d.repo, [], {}, s.say)).code, REFUSED);
  assert.match((await fetchCommand(d.repo, [], {}, s.say)).message!, /acts on no remote, so there is nothing to fetch/);
  assert.match((await fetchCommand(d.repo, ['origin'], {}, s.say)).message!, /\(it acts on none\)$/);
  assert.equal(d.pipe.read(), '');
});

test('without --wait: FETCH for all, or for the named once each; said, and done', async (t) => {
  const d = await daemonWith(t, state([remote('origin'), remote('mirror', { connected: false })]));
  const s = sayer();
  assert.deepEqual(await fetchCommand(d.repo, [], {}, s.say), { code: 0 });
  assert.deepEqual(await fetchCommand(d.repo, ['mirror', 'origin', 'mirror'], {}, s.say), { code: 0 });
  assert.equal(d.pipe.read(), 'FETCH\nFETCH mirror origin\n');
  assert.deepEqual(s.said, [
    `asked the daemon (pid ${process.pid}) to fetch from origin, mirror; \`fetch --wait\` says how it went`,
    `asked the daemon (pid ${process.pid}) to fetch from mirror, origin; \`fetch --wait\` says how it went`,
  ]);
});

test('--wait: each remote\'s own outcome, from fetches that finished after the request only', async (t) => {
  const old = Date.now() - 60_000;
  const names = ['fine', 'same', 'broken', 'dropped', 'removed', 'offline'];
  const d = await daemonWith(
    t,
    state([...names.slice(0, -1).map((n) => remote(n, { lastFetch: { at: old, ok: true } })), remote('offline', { connected: false })]),
  );
  const s = sayer();
  const waiting = fetchCommand(d.repo, [], { wait: true, timeoutMs: 10_000 }, s.say);
  await eventually(() => d.pipe.read() === 'FETCH\n', 'FETCH on the pipe');
  const at = Date.now();
  writeState(
    d.paths.state,
    state([
      remote('fine', { lastFetch: { at, ok: true }, lastChange: { at, summary: 'main: 2 new commits' } }),
      // A change from before the request is not this fetch's.
      remote('same', { lastFetch: { at, ok: true }, lastChange: { at: old, summary: 'main: 1 new commit' } }),
      remote('broken', { lastFetch: { at, ok: false }, warnings: [{ at, kind: 'connect', text: 'other' }, { at, kind: 'fetch', text: 'fatal: bad pack' }] }),
      remote('dropped', { connected: false, lastFetch: { at: old, ok: true } }),
      remote('offline', { connected: false }),
    ]),
  );
  const result = await waiting;
  assert.deepEqual(s.said.sort(), ['fine: fetched: main: 2 new commits', 'same: fetched: nothing new']);
  assert.equal(result.code, 1);
  // Failures are joined with '; ' (which some also contain): each one's words, once.
  for (const failure of [
    'broken: the fetch FAILED: fatal: bad pack',
    'dropped: disconnected before the fetch finished; see git remote-daemon status',
    'offline: not connected, so nothing was fetched (the daemon fetches what changed once it reconnects; see git remote-daemon status)',
    'removed: no longer acted on by the daemon (the config changed)',
  ]) {
    assert.equal(result.message!.split(failure).length, 2, `${failure} in ${result.message}`);
  }
  assert.doesNotMatch(result.message!, /fine|same/);
});

test('--wait: all well is exit 0; a failed fetch without a warning points at the log', async (t) => {
  const d = await daemonWith(t, state([remote('origin')]));
  const s = sayer();
  const waiting = fetchCommand(d.repo, ['origin'], { wait: true }, s.say);
  await eventually(() => d.pipe.read() === 'FETCH origin\n', 'FETCH on the pipe');
  writeState(d.paths.state, state([remote('origin', { lastFetch: { at: Date.now(), ok: true } })]));
  assert.deepEqual(await waiting, { code: 0 });
  assert.deepEqual(s.said, ['origin: fetched: nothing new']);

  const again = fetchCommand(d.repo, ['origin'], { wait: true }, s.say);
  await eventually(() => d.pipe.read() === 'FETCH origin\n', 'FETCH on the pipe');
  writeState(d.paths.state, state([remote('origin', { lastFetch: { at: Date.now(), ok: false } })]));
  assert.deepEqual(await again, { code: 1, message: 'origin: the fetch FAILED; see git remote-daemon log' });
});

test('--wait: a fetch still running at the deadline, or a daemon gone meanwhile, is said, not waited for', async (t) => {
  const d = await daemonWith(t, state([remote('origin'), remote('slow')]));
  const s = sayer();
  const late = await fetchCommand(d.repo, ['slow'], { wait: true, timeoutMs: 150 }, s.say);
  assert.deepEqual(late, { code: 1, message: 'no fetch from slow finished in time; see git remote-daemon log' });

  const waiting = fetchCommand(d.repo, [], { wait: true }, s.say);
  await eventually(() => d.pipe.read().includes('FETCH\n'), 'FETCH on the pipe');
  rmSync(d.paths.state); // the daemon removes its state as it stops
  assert.deepEqual(await waiting, { code: 1, message: `the daemon (pid ${process.pid}) stopped before the fetch finished` });
  assert.deepEqual(s.said, []);
});
