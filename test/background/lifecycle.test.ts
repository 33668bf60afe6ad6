// The background daemon's life as a user sees it: start, status, the control pipe, stop; one daemon
// per repository; a killed daemon's leftovers; subdirectories, linked worktrees and GIT_DIR.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { git, pushCommit, refValue, tempDir } from '../support/git.js';
import { eventually } from '../support/daemon.js';
import { isAlive, readPidFile } from '../../src/background/pidfile.js';
import { descendantsOf } from '../support/procs.js';
import { alive, backgroundFixture, cli, daemonsIn, killDaemon, liveProcessesIn, logLines, pidFrom, sh, waitForLog } from './support.js';

test('start -> status -> RELOAD through the FIFO -> a push is fetched -> stop', async (t) => {
  const fx = backgroundFixture(t);
  const sub = join(fx.local, 'a', 'b');
  mkdirSync(sub, { recursive: true });

  const started = await cli(sub, []);
  assert.equal(started.code, 0, started.stderr);
  assert.match(started.stdout, /started \(pid \d+\)/);
  const pid = pidFrom(started.stdout);
  // Detached: its own session and process group, not a child of the starting command any more.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const [ppid, pgrp, session] = stat.slice(stat.lastIndexOf(')') + 2).split(' ').slice(1, 4).map(Number);
  assert.equal(session, pid, 'session leader');
  assert.equal(pgrp, pid);
  assert.notEqual(ppid, process.pid);
  assert.deepEqual(readFileSync(`/proc/${pid}/fd/0`, { encoding: null }).length, 0, 'stdin is /dev/null');

  await waitForLog(fx.paths, 'CONNECTED origin');
  const status = await cli(sub, ['status']);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, new RegExp(`running \\(pid ${pid}\\)`));
  assert.match(status.stdout, /^origin\s+local\s+connected since /m);

  assert.equal(await sh(fx.local, 'echo RELOAD > .git/remote-daemon/control'), 0);
  await waitForLog(fx.paths, '# control pipe: RELOAD');

  const sha = pushCommit(fx.pusher);
  await waitForLog(fx.paths, 'DONESYNCING origin 1');
  assert.equal(refValue(fx.local, 'refs/remotes/origin/main'), sha);
  await eventually(() => {
    const json = JSON.parse(readFileSync(fx.paths.state, 'utf8')) as { remotes: { lastFetch?: { ok: boolean } }[] };
    return json.remotes[0].lastFetch?.ok === true;
  }, 'state file shows the fetch');
  const statusJson = await cli(fx.local, ['status', '--json']);
  const parsed = JSON.parse(statusJson.stdout) as { running: boolean; pid: number; remotes: { name: string; connected: boolean; lastFetch?: { ok: boolean } }[] };
  assert.equal(parsed.running, true);
  assert.equal(parsed.pid, pid);
  assert.deepEqual(parsed.remotes.map((r) => [r.name, r.connected, r.lastFetch?.ok]), [['origin', true, true]]);

  const stopped = await cli(sub, ['stop']);
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.match(stopped.stdout, new RegExp(`stopped \\(pid ${pid}\\)`));
  assert.equal(alive(pid), false, 'gone when stop returns');
  for (const file of [fx.paths.pidFile, fx.paths.control, fx.paths.state]) assert.equal(existsSync(file), false, `${file} removed`);
  assert.ok(logLines(fx.paths).includes('DISCONNECTED origin'));
  assert.equal(logLines(fx.paths).at(-1), '# stopped');

  const after = await cli(sub, ['status']);
  assert.equal(after.code, 3);
  assert.match(after.stdout, /no daemon is running/);
  assert.equal(JSON.parse((await cli(sub, ['status', '--json'])).stdout).running, false);
  const again = await cli(sub, ['stop']);
  assert.equal(again.code, 0);
  assert.match(again.stdout, /no daemon is running/);
  assert.deepEqual(liveProcessesIn(fx.root), []);
});

test('a second start says it is already running; two starts at once make one daemon', async (t) => {
  const fx = backgroundFixture(t);
  const first = await cli(fx.local, []);
  assert.equal(first.code, 0, first.stderr);
  const pid = pidFrom(first.stdout);
  const second = await cli(fx.local, []);
  assert.equal(second.code, 0);
  assert.match(second.stdout, new RegExp(`already running \\(pid ${pid}\\)`));
  assert.equal((await cli(fx.local, ['stop'])).code, 0);

  // Racing starters: both pass the "is one running?" check; the pid file decides.
  const racers = await Promise.all([cli(fx.local, []), cli(fx.local, []), cli(fx.local, [])]);
  for (const r of racers) assert.equal(r.code, 0, r.stderr);
  const pids = new Set(racers.map((r) => pidFrom(r.stdout)));
  assert.equal(pids.size, 1, racers.map((r) => r.stdout).join(''));
  const [winner] = pids;
  assert.equal(readPidFile(fx.paths.pidFile)?.pid, winner);
  await eventually(() => daemonsIn(fx.local).length === 1, 'the losers exited');
  assert.deepEqual(daemonsIn(fx.local), [winner]);
  assert.equal((await cli(fx.local, ['stop'])).code, 0);
});

test('after kill -9 the stale pid file and FIFO are replaced by the next start', async (t) => {
  const fx = backgroundFixture(t);
  const first = pidFrom((await cli(fx.local, [])).stdout);
  await waitForLog(fx.paths, 'CONNECTED origin');
  process.kill(first, 'SIGKILL');
  await eventually(() => !alive(first), 'killed');
  assert.ok(existsSync(fx.paths.pidFile), 'kill -9 leaves the pid file');
  assert.ok(lstatSync(fx.paths.control).isFIFO(), 'and the FIFO');
  assert.equal((await cli(fx.local, ['status'])).code, 3, 'a stale pid file is not a running daemon');

  const restarted = await cli(fx.local, []);
  assert.equal(restarted.code, 0, restarted.stderr);
  assert.match(restarted.stdout, /started/);
  const second = pidFrom(restarted.stdout);
  assert.notEqual(second, first);
  await waitForLog(fx.paths, 'CONNECTED origin', 2);
  assert.equal((await cli(fx.local, ['send', 'RELOAD'])).code, 0);
  await waitForLog(fx.paths, '# control pipe: RELOAD');
  assert.equal((await cli(fx.local, ['stop'])).code, 0);
});

test('kill -9 of the daemon leaves none of its children running (ip monitor, the peer node, git cat-file)', async (t) => {
  const fx = backgroundFixture(t);
  // A peer key to allow starts the peer node; a bootstrap nobody answers keeps it off the network.
  git(fx.local, 'config', 'remotedaemon.p2p.allow', 'ab'.repeat(32));
  git(fx.local, 'config', 'remotedaemon.p2p.bootstrap', '127.0.0.1:9');
  const pid = pidFrom((await cli(fx.local, [])).stdout);
  await waitForLog(fx.paths, 'CONNECTED origin');
  const commandOf = (p: number) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ');
    } catch {
      return '';
    }
  };
  let children: number[] = [];
  await eventually(() => {
    children = descendantsOf(pid);
    const commands = children.map(commandOf).join('\n');
    return /ip -o monitor/.test(commands) && /p2p\/node\.js/.test(commands);
  }, 'the daemon runs ip monitor and the peer node');
  process.kill(pid, 'SIGKILL');
  await eventually(() => !alive(pid), 'killed');
  await eventually(() => children.every((p) => !alive(p)), 'every child gone').catch(() => {
    assert.fail(`left running after kill -9: ${children.filter(alive).map(commandOf).join('; ')}`);
  });
});

test('a pid file naming a live process that is not the daemon (reused pid) is stale', async (t) => {
  const fx = backgroundFixture(t);
  mkdirSync(fx.paths.dir, { mode: 0o700 });
  // Our own pid: alive, but another start time and not git-remote-daemon.
  writeFileSync(fx.paths.pidFile, `${process.pid} 1\n`, { mode: 0o600 });
  assert.equal(isAlive({ pid: process.pid, startTime: '1' }), false);
  const started = await cli(fx.local, []);
  assert.equal(started.code, 0, started.stderr);
  assert.match(started.stdout, /started/);
  assert.notEqual(pidFrom(started.stdout), process.pid);
  assert.equal((await cli(fx.local, ['stop'])).code, 0);
});

test('files are 0600 and the directory 0700, whatever the umask; a stray regular file named control is replaced', async (t) => {
  const fx = backgroundFixture(t);
  mkdirSync(fx.paths.dir, { mode: 0o755 });
  writeFileSync(fx.paths.control, 'RELOAD\n'); // what `echo RELOAD > control` makes while no daemon runs
  const started = await cli(fx.local, []);
  assert.equal(started.code, 0, started.stderr);
  await waitForLog(fx.paths, 'CONNECTED origin');
  assert.equal((await cli(fx.local, ['send', 'RELOAD'])).code, 0, 'the regular file was replaced by a FIFO');
  await waitForLog(fx.paths, '# control pipe: RELOAD');
  await cli(fx.local, ['stop']);
  // umask 000 for the starter and so for the daemon: the modes must not depend on it.
  const loose = await sh(fx.local, `umask 000 && exec "${process.execPath}" "${join(import.meta.dirname, '../../../bin/git-remote-daemon')}"`);
  assert.equal(loose, 0);
  await waitForLog(fx.paths, 'CONNECTED origin', 2);
  const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);
  assert.equal(mode(fx.paths.dir), '700');
  for (const file of [fx.paths.pidFile, fx.paths.log, fx.paths.state, fx.paths.control]) assert.equal(mode(file), '600', file);
  assert.ok(lstatSync(fx.paths.control).isFIFO());
  assert.equal((await cli(fx.local, ['stop'])).code, 0);
});

test('every command works from a linked worktree and with GIT_DIR; all find the same daemon', async (t) => {
  const fx = backgroundFixture(t);
  const worktree = join(fx.root, 'wt');
  git(fx.local, 'worktree', 'add', '-q', '-b', 'side', worktree);
  const started = await cli(join(worktree), []);
  assert.equal(started.code, 0, started.stderr);
  const pid = pidFrom(started.stdout);
  assert.equal(readPidFile(fx.paths.pidFile)?.pid, pid, 'files live in the common git dir');
  await waitForLog(fx.paths, 'CONNECTED origin');

  const fromMain = await cli(fx.local, []);
  assert.match(fromMain.stdout, new RegExp(`already running \\(pid ${pid}\\)`));
  const elsewhere = tempDir();
  t.after(() => elsewhere.cleanup());
  const gitDirEnv = { GIT_DIR: join(fx.local, '.git') };
  const viaGitDir = await cli(elsewhere.path, ['status'], gitDirEnv);
  assert.equal(viaGitDir.code, 0, viaGitDir.stderr);
  assert.match(viaGitDir.stdout, new RegExp(`running \\(pid ${pid}\\)`));
  assert.equal((await cli(worktree, ['send', 'PAUSE'])).code, 0);
  await waitForLog(fx.paths, '# control pipe: PAUSE');
  assert.match((await cli(worktree, ['status'])).stdout, /PAUSED/);
  assert.equal((await cli(worktree, ['reload'])).code, 0);
  await waitForLog(fx.paths, '# control pipe: RELOAD');
  const log = await cli(worktree, ['log']);
  assert.match(log.stdout, /Z CONNECTED origin\n/);
  const stopped = await cli(elsewhere.path, ['stop'], gitDirEnv);
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.match(stopped.stdout, /stopped/);
  assert.equal(alive(pid), false);

  // Started with GIT_DIR from outside the repository.
  const viaEnv = await cli(elsewhere.path, [], gitDirEnv);
  assert.equal(viaEnv.code, 0, viaEnv.stderr);
  assert.equal(readPidFile(fx.paths.pidFile)?.pid, pidFrom(viaEnv.stdout));
  assert.equal((await cli(fx.local, ['stop'])).code, 0);
});

test('outside a repository every command fails clearly; send refuses bad messages; no daemon is exit 3', async (t) => {
  const dir = tempDir();
  t.after(() => dir.cleanup());
  for (const args of [[], ['status'], ['stop'], ['send', 'RELOAD'], ['log']]) {
    const r = await cli(dir.path, args, { GIT_CEILING_DIRECTORIES: dir.path });
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout} ${r.stderr}`);
    assert.match(r.stderr, /not a git repository/i);
  }
  const fx = backgroundFixture(t);
  const bad = await cli(fx.local, ['send', 'FROB']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown message "FROB"/);
  const long = await cli(fx.local, ['send', 'CHANGED', ...Array.from({ length: 300 }, (_, i) => `refs/heads/branch-${i}`)]);
  assert.equal(long.code, 2, 'a message too long for one atomic write is refused like a bad one');
  assert.match(long.stderr, /at most 4096/);
  const none = await cli(fx.local, ['send', 'RELOAD']);
  assert.equal(none.code, 3);
  assert.match(none.stderr, /no daemon is running/);
  await killDaemon(fx.paths);
});

test('a daemon that cannot start says why, and leaves no pid file behind', async (t) => {
  const fx = backgroundFixture(t);
  mkdirSync(join(fx.paths.control, 'in-the-way'), { recursive: true }); // a directory where the FIFO goes
  const r = await cli(fx.local, []);
  assert.equal(r.code, 1, r.stdout);
  assert.match(r.stderr, /cannot create the control pipe .*control/);
  assert.equal(existsSync(fx.paths.pidFile), false);
  assert.equal((await cli(fx.local, ['status'])).code, 3);
  await eventually(() => daemonsIn(fx.local).length === 0, 'the daemon that could not start is gone', 3000);
});

test('a pid file that cannot be claimed is reported as the reason, not as a crash exit code', async (t) => {
  const fx = backgroundFixture(t);
  mkdirSync(fx.paths.pidFile, { recursive: true }); // a directory where the pid file goes
  const r = await cli(fx.local, []);
  assert.equal(r.code, 1, r.stdout);
  assert.match(r.stderr, /cannot claim the pid file .*pid: /);
  assert.doesNotMatch(r.stderr, /exited with code/);
  assert.equal(existsSync(fx.paths.control), false, 'nothing left behind');
  await eventually(() => daemonsIn(fx.local).length === 0, 'the daemon that could not start is gone', 3000);
});

test('status shows a failing remote: disconnected, its warning and the next retry', async (t) => {
  const fx = backgroundFixture(t);
  git(fx.local, 'remote', 'add', 'broken', join(fx.root, 'missing.git'));
  assert.equal((await cli(fx.local, [])).code, 0);
  await waitForLog(fx.paths, /^WARNING broken cannot connect: /);
  await eventually(() => readFileSync(fx.paths.state, 'utf8').includes('"backoff"'), 'state has the retry');
  // Between a retry starting and failing there is no next retry yet: read until one is shown.
  let status = await cli(fx.local, ['status']);
  for (let i = 0; i < 20 && !status.stdout.includes('retrying in'); i++) status = await cli(fx.local, ['status']);
  const time = String.raw`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(\d+s ago\)`;
  assert.match(status.stdout, new RegExp(String.raw`^broken  local  disconnected since ${time}; retrying in \d+ s\n {15}last fetch: none yet\n {15}warning \(\d+s ago\): cannot connect:`, 'm'));
  assert.match(status.stdout, new RegExp(String.raw`^origin  local  connected since ${time}\n`, 'm'));
  for (const line of status.stdout.split('\n')) assert.ok(line.length <= 80, `fits 80 columns: ${line}`);
  const json = JSON.parse((await cli(fx.local, ['status', '--json'])).stdout) as { remotes: { name: string; phase: { kind: string; until?: number }; warnings: { text: string }[] }[] };
  const broken = json.remotes.find((r) => r.name === 'broken')!;
  assert.ok(['backoff', 'connecting'].includes(broken.phase.kind), broken.phase.kind);
  assert.match(broken.warnings[0]!.text, /cannot connect/);
  assert.equal((await cli(fx.local, ['stop'])).code, 0);
});
