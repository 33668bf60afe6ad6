// The shared daemon's commands (src/hub/commands.ts) with no shared daemon started: its state
// directory and the global config are the test's own (XDG_STATE_HOME, GIT_CONFIG_GLOBAL), and the
// daemons are stand-ins: this process, titled as one, or a child process.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findHub, signalHub, startHub, statusAll, statusLine, stopHub } from '../../src/hub/commands.js';
import { hubPaths } from '../../src/hub/paths.js';
import { acquireLock } from '../../src/background/lock.js';
import { ensureDir, pathsIn, type DaemonPaths } from '../../src/background/paths.js';
import { isAlive, ownRecord, processStartTime } from '../../src/background/pidfile.js';
import { writeState, type DaemonState } from '../../src/background/state.js';
import type { RemoteStatus } from '../../src/coordinator.js';
import { git, gitWithEnv, tempDir } from '../support/git.js';
import { eventually } from '../support/daemon.js';

/** A state directory and global config of the test's own; returns the temporary directory. */
function ownEnvironment(t: TestContext): string {
  const d = tempDir('grd-hubcommands-');
  const saved = { XDG_STATE_HOME: process.env.XDG_STATE_HOME, GIT_CONFIG_GLOBAL: process.env.GIT_CONFIG_GLOBAL };
  process.env.XDG_STATE_HOME = join(d.path, 'state');
  process.env.GIT_CONFIG_GLOBAL = join(d.path, 'gitconfig');
  t.after(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    d.cleanup();
  });
  return d.path;
}

function titled(t: TestContext): void {
  const before = process.title;
  process.title = 'git-remote-daemon --all';
  t.after(() => {
    process.title = before;
  });
}

function repo(root: string, name: string): { path: string; paths: DaemonPaths } {
  const path = join(root, name);
  git(root, 'init', '-q', path);
  const paths = pathsIn(join(path, '.git'));
  ensureDir(paths);
  return { path, paths };
}

const remote = (name: string, more: Partial<RemoteStatus> = {}): RemoteStatus => ({
  name, transport: 'file', url: `/srv/${name}`, phase: { kind: 'connected', attempt: 1, since: 0 }, connected: true, since: 0, warnings: [], ...more,
});

/** `paths`'s daemon is this process: its pid file, and a state file saying so. */
function servedHere(paths: DaemonPaths, remotes: RemoteStatus[], more: Partial<DaemonState> = {}): void {
  const me = ownRecord();
  writeFileSync(paths.pidFile, `${me.pid} ${me.startTime}\n`);
  writeState(paths.state, { version: 1, pid: me.pid, startedAt: 0, updatedAt: 0, cwd: '/', mode: 'running', logTo: 'file', remotes, ...more });
}

/**
 * A child process titled as the shared daemon, in its pid file; `trap` names signals it takes and
 * notes. SIGTERM trapped, it takes a moment to stop, as a daemon does.
 */
async function childHub(t: TestContext, trap: string[] = []): Promise<{ pid: number; noted(): string; exited: Promise<unknown[]> }> {
  const script = `process.title = 'git-remote-daemon --all';
    for (const s of ${JSON.stringify(trap)}) process.on(s, () => { console.log(s); if (s === 'SIGTERM') setTimeout(() => process.exit(0), 100); });
    setInterval(() => {}, 1000); console.log('up');`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = once(child, 'exit');
  await eventually(() => out.startsWith('up\n'), 'the stand-in is up');
  const paths = hubPaths();
  ensureDir(paths);
  writeFileSync(paths.pidFile, `${child.pid} ${processStartTime(child.pid!)}\n`);
  return { pid: child.pid!, noted: () => out.slice('up\n'.length), exited };
}

test('statusLine: gone, not a repository, not served; a state file of another process is not believed', (t) => {
  const root = ownEnvironment(t);
  titled(t);
  assert.equal(statusLine(join(root, 'gone'), undefined), `${join(root, 'gone')}  gone (no such directory)`);
  mkdirSync(join(root, 'plain'));
  assert.equal(statusLine(join(root, 'plain'), undefined), `${join(root, 'plain')}  not a git repository`);
  const r = repo(root, 'repo');
  assert.equal(statusLine(r.path, undefined), `${r.path}  not served`, 'no pid file');
  servedHere(r.paths, [], { pid: 1 });
  assert.equal(statusLine(r.path, undefined), `${r.path}  not served`, 'a state file of another pid');
});

test('statusLine: who serves it, its mode, remotes connected, the last change and the problems, from `now`', (t) => {
  const root = ownEnvironment(t);
  titled(t);
  const r = repo(root, 'repo');
  const now = 1_000_000_000_000;
  servedHere(r.paths, [remote('a', { lastChange: { at: now - 90_000, summary: 'x' } }), remote('b', { lastChange: { at: now - 30_000, summary: 'y' } })]);
  assert.equal(statusLine(r.path, process.pid, now), `${r.path}  shared, 2/2 connected, last change 30s ago`);
  assert.equal(statusLine(r.path, 4242, now), `${r.path}  own daemon (pid ${process.pid}), 2/2 connected, last change 30s ago`);
  assert.equal(statusLine(r.path, undefined, now), `${r.path}  own daemon (pid ${process.pid}), 2/2 connected, last change 30s ago`);

  const ago = (ms: number) => {
    servedHere(r.paths, [remote('a', { lastChange: { at: now - ms, summary: 'x' } })]);
    return statusLine(r.path, process.pid, now).split('last change ')[1];
  };
  assert.equal(ago(119_000), '119s ago');
  assert.equal(ago(120_000), '2m ago');
  assert.equal(ago(7_199_000), '120m ago');
  assert.equal(ago(7_200_000), '2h ago');
  assert.equal(ago(172_800_000), '2d ago');

  servedHere(r.paths, [remote('a', { connected: false, since: now - 3_600_000 }), remote('b', { lastFetch: { at: now, ok: false } })], {
    mode: 'running',
    warnings: [{ at: now, kind: 'config', text: 'the config has an error' }],
  });
  assert.equal(
    statusLine(r.path, process.pid, now),
    `${r.path}  shared, 1/2 connected, no change yet, 3 problems: daemon: the config has an error; a: disconnected for 1h 00m (allowed: 10m 00s); b: last fetch failed 0s ago`,
  );
  servedHere(r.paths, [remote('a', { lastFetch: { at: now, ok: false } })], { mode: 'paused' });
  assert.equal(statusLine(r.path, process.pid, now), `${r.path}  shared (paused), 1/1 connected, no change yet`, 'paused: no remote is a problem');
  servedHere(r.paths, [remote('a', { lastFetch: { at: now, ok: false } })]);
  assert.match(statusLine(r.path, process.pid, now), /, 1 problem: a: last fetch failed/);
});

test('statusAll: no shared daemon is exit 3; each registered repository a line, or a hint when there are none', async (t) => {
  const root = ownEnvironment(t);
  const none = await statusAll();
  assert.equal(none.code, 3);
  assert.equal(none.text, `no shared daemon is running (${join(root, 'state', 'git-remote-daemon')})\nno repository is registered (git remote-daemon register)`);

  const r = repo(root, 'repo');
  // support/git.ts's git() took its environment before this test set GIT_CONFIG_GLOBAL.
  const global = { GIT_CONFIG_GLOBAL: process.env.GIT_CONFIG_GLOBAL! };
  gitWithEnv(root, global, 'config', '--global', '--add', 'remotedaemon.repo', r.path);
  gitWithEnv(root, global, 'config', '--global', '--add', 'remotedaemon.repo', join(root, 'gone'));
  titled(t);
  ensureDir(hubPaths());
  const held = await acquireLock(hubPaths(), 'shared');
  assert.ok(held.ok);
  t.after(() => held.lock.release());
  servedHere(r.paths, [remote('origin')]);
  const running = await statusAll();
  assert.equal(running.code, 0);
  assert.deepEqual(running.text.split('\n'), [
    `shared daemon running (pid ${process.pid}); log: ${hubPaths().log}`,
    `${r.path}  shared, 1/1 connected, no change yet`,
    `${join(root, 'gone')}  gone (no such directory)`,
  ]);
});

test('findHub: the lock holder vouched for by /proc, else a live pid file; signalHub sends SIGUSR1 to it', async (t) => {
  ownEnvironment(t);
  assert.equal(await findHub(), undefined);
  assert.equal(await signalHub(), undefined, 'none to signal');
  const hub = await childHub(t, ['SIGUSR1']);
  assert.deepEqual(await findHub(), { pid: hub.pid, startTime: processStartTime(hub.pid) });
  assert.equal(await signalHub(), hub.pid);
  await eventually(() => hub.noted() === 'SIGUSR1\n', 'the stand-in got SIGUSR1');
});

test('stopHub: none is no error; one is sent SIGTERM and waited for', async (t) => {
  ownEnvironment(t);
  assert.deepEqual(await stopHub(), { code: 0, message: 'no shared daemon is running' });
  const hub = await childHub(t, ['SIGTERM']);
  const record = { pid: hub.pid, startTime: processStartTime(hub.pid)! };
  assert.deepEqual(await stopHub(), { code: 0, message: `stopped the shared daemon (pid ${hub.pid})` });
  assert.equal(isAlive(record), false, 'gone by the time stopHub returns');
  assert.deepEqual(await hub.exited, [0, null]);
  assert.equal(hub.noted(), 'SIGTERM\n');
});

test('startHub: one running is named and no other started; a state directory that cannot be made is said', async (t) => {
  const root = ownEnvironment(t);
  titled(t);
  const paths = hubPaths();
  ensureDir(paths);
  const held = await acquireLock(paths, 'shared');
  assert.ok(held.ok);
  t.after(() => held.lock.release());
  mkdirSync(paths.log); // were a daemon started after all, its log could not be opened
  assert.deepEqual(await startHub(), { code: 0, message: `the shared daemon is already running (pid ${process.pid})`, pid: process.pid });

  writeFileSync(join(root, 'file'), '');
  process.env.XDG_STATE_HOME = join(root, 'file');
  const blocked = await startHub();
  assert.equal(blocked.code, 1);
  assert.match(blocked.message, /EEXIST|ENOTDIR|not a directory/);
  assert.equal(readFileSync(join(root, 'file'), 'utf8'), '', 'the file in the way is left alone');
});
