// Daily use, with real daemons: the subcommands git users expect, each saying what it did; the
// commands that reach a running daemon whatever state the config is in; no orphan daemons (lock,
// watchdog, process title); the health check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, lstatSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { git, pushCommit } from '../support/git.js';
import { eventually, startDaemon } from '../support/daemon.js';
import { alive, backgroundFixture, cli, daemonsIn, logLines, pidFrom, waitForLog } from './support.js';

/** Kills `pid` after the test if it is still there (its files may be gone, so killDaemon cannot find it). */
function killAfter(t: { after(fn: () => unknown): void }, pid: number): void {
  t.after(async () => {
    if (!alive(pid)) return;
    process.kill(pid, 'SIGKILL');
    await eventually(() => !alive(pid), `daemon ${pid} is gone`);
  });
}

test('start, pause, resume, fetch, reload, send and log -n each say what they did in one line', async (t) => {
  const fx = backgroundFixture(t);
  const started = await cli(fx.local, ['start']);
  assert.equal(started.code, 0, started.stderr);
  assert.match(started.stdout, /^git-remote-daemon: started \(pid \d+\); log: .*\n$/);
  const pid = pidFrom(started.stdout);
  await waitForLog(fx.paths, 'CONNECTED origin');

  for (const [args, line] of [
    [['pause'], 'PAUSE'],
    [['resume'], 'RESUME'],
    [['reload'], 'RELOAD'],
    [['fetch'], 'FETCH'],
    [['fetch', 'origin'], 'FETCH origin'],
    [['send', 'LOSTNET'], 'LOSTNET'],
  ] as const) {
    const r = await cli(fx.local, [...args]);
    assert.equal(r.code, 0, r.stderr);
    // fetch says what it asked for, and how to learn how it went (fetch --wait).
    const said = args[0] === 'fetch' ? `asked the daemon (pid ${pid}) to fetch from origin; \`fetch --wait\` says how it went` : `sent ${line} to the daemon (pid ${pid})`;
    assert.equal(r.stdout, `git-remote-daemon: ${said}\n`);
    await waitForLog(fx.paths, `# control pipe: ${line}`);
  }
  assert.match((await cli(fx.local, ['status'])).stdout, /^OFFLINE \(LOSTNET\)/m);

  const typo = await cli(fx.local, ['send', 'pause']);
  assert.equal(typo.code, 2);
  assert.match(typo.stderr, /unknown message "pause"; did you mean PAUSE\?/);

  const all = logLines(fx.paths).length;
  const tail = await cli(fx.local, ['log', '-n', '2']);
  assert.equal(tail.code, 0, tail.stderr);
  const lines = tail.stdout.split('\n').filter(Boolean);
  assert.equal(lines.length, 2, tail.stdout);
  assert.ok(all > 2);
  assert.match(lines[1], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /);
  assert.equal((await cli(fx.local, ['log', '-n', 'x'])).code, 2, 'a count that is not one is refused (a usage error)');

  const stopped = await cli(fx.local, ['stop']);
  assert.equal(stopped.stdout, `git-remote-daemon: stopped (pid ${pid})\n`);
  const none = await cli(fx.local, ['pause']);
  assert.equal(none.code, 3);
  assert.match(none.stderr, /no daemon is running/);
});

test('start says what the daemon warned about while starting: no remotes, remotes it cannot serve', async (t) => {
  const fx = backgroundFixture(t);
  git(fx.local, 'remote', 'add', 'web', 'hg::https://example.invalid/repo');
  git(fx.local, 'config', 'remote.origin.remotedaemon', 'false');
  const started = await cli(fx.local, []);
  assert.equal(started.code, 0, started.stderr);
  assert.match(started.stderr, /^git-remote-daemon: warning: web: ignored: hg::https:\/\/example\.invalid\/repo: git runs git-remote-hg for it/m);
  assert.match(started.stderr, /^git-remote-daemon: warning: no remotes to act on/m);
  assert.match(started.stdout, /started \(pid \d+\)/);
  const status = await cli(fx.local, ['status']);
  assert.match(status.stdout, /^ignored:\n {2}origin {2}remote\.<name>\.remotedaemon is false\n {2}web {5}hg::https:\/\/example\.invalid\/repo: git runs git-remote-hg/m);
  const json = JSON.parse((await cli(fx.local, ['status', '--json'])).stdout) as { ignored: { name: string }[] };
  assert.deepEqual(json.ignored.map((i) => i.name).sort(), ['origin', 'web']);
  assert.equal((await cli(fx.local, ['stop'])).code, 0);
});

test('with a config git refuses to read, status, log, send and stop still reach the running daemon', async (t) => {
  const fx = backgroundFixture(t);
  const sub = join(fx.local, 'sub');
  mkdirSync(sub);
  const pid = pidFrom((await cli(fx.local, [])).stdout);
  await waitForLog(fx.paths, 'CONNECTED origin');
  appendFileSync(join(fx.local, '.git', 'config'), '[[[ this is not a config\n');
  // git itself now fails in this repository; that is the situation under test.
  assert.throws(() => git(fx.local, 'status'), /bad config/);
  // The daemon notices the edit, cannot read it, and keeps its remotes.
  await waitForLog(fx.paths, /^WARNING \* RELOAD failed, keeping the current remotes: .*bad config/);

  const status = await cli(sub, ['status']);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, new RegExp(`^running \\(pid ${pid}\\)`));
  assert.match(status.stdout, /^origin  local  connected since /m);
  // Healthy or not depends on whether a fetch (which fails now) happened meanwhile; either way it answers.
  const check = await cli(sub, ['status', '--check']);
  assert.ok(check.code === 0 || check.code === 2, `${check.code}: ${check.stdout} ${check.stderr}`);
  const log = await cli(sub, ['log']);
  assert.equal(log.code, 0, log.stderr);
  assert.match(log.stdout, /Z CONNECTED origin\n/);
  const sent = await cli(sub, ['reload']);
  assert.equal(sent.code, 0, sent.stderr);
  await waitForLog(fx.paths, '# control pipe: RELOAD');
  const stopped = await cli(sub, ['stop']);
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.equal(alive(pid), false);
  assert.equal((await cli(sub, ['status'])).code, 3);
  // Starting needs the config: git's own complaint says why it cannot.
  const start = await cli(sub, []);
  assert.equal(start.code, 1);
  assert.match(start.stderr, /bad config/);
});

/**
 * `rm -rf` of a directory a live daemon writes into: a file made between the listing and the
 * rmdir makes it fail with ENOTEMPTY, and a user runs it again. So does this.
 */
function removeUnderWriter(dir: string): void {
  for (let attempt = 1; ; attempt++) {
    try {
      rmSync(dir, { recursive: true, force: true });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY' || attempt === 20) throw err;
    }
  }
}

test('rm -rf .git/remote-daemon under a running daemon: no second daemon, and its files come back', async (t) => {
  const fx = backgroundFixture(t);
  const pid = pidFrom((await cli(fx.local, [])).stdout);
  killAfter(t, pid);
  await waitForLog(fx.paths, 'CONNECTED origin');
  // As `rm -rf` would meet it: the daemon may write its state file while the deletion runs.
  removeUnderWriter(fx.paths.dir);

  // Before the daemon has noticed: the lock keeps the new start from making a second daemon.
  const second = await cli(fx.local, []);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, new RegExp(`already running \\(pid ${pid}\\)`));
  assert.deepEqual(daemonsIn(fx.local), [pid]);

  // Asking for the daemon made its files again before the answer came.
  for (const file of [fx.paths.pidFile, fx.paths.state, fx.paths.log]) assert.ok(existsSync(file), file);
  assert.ok(lstatSync(fx.paths.control).isFIFO());
  await waitForLog(fx.paths, /^# log, lock, pid, control, state\.json missing from .*remote-daemon: made again$/);
  // The new pipe is the one the daemon reads.
  assert.equal((await cli(fx.local, ['reload'])).code, 0);
  await waitForLog(fx.paths, '# control pipe: RELOAD');
  assert.match((await cli(fx.local, ['status'])).stdout, /^origin  local  connected/m);
  assert.equal((await cli(fx.local, ['stop'])).code, 0);
  assert.equal(alive(pid), false);
});

test('rm -rf .git/remote-daemon: a --foreground start that binds the freed lock name gives way to the running daemon', async (t) => {
  const fx = backgroundFixture(t);
  const pid = pidFrom((await cli(fx.local, [])).stdout);
  killAfter(t, pid);
  await waitForLog(fx.paths, 'CONNECTED origin');
  // As `rm -rf` would meet it: the daemon may write its state file while the deletion runs.
  removeUnderWriter(fx.paths.dir);
  // --foreground asks nobody first: it binds the lock name the deletion freed, then finds the
  // daemon in /proc still holding the socket bound under that name.
  const refused = await cli(fx.local, ['--foreground']);
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, new RegExp(`a daemon already runs in this repository \\(pid ${pid}\\)`));
  assert.deepEqual(daemonsIn(fx.local), [pid]);
  assert.equal((await cli(fx.local, ['stop'])).code, 0);
  assert.equal(alive(pid), false);
});

test('files deleted under a daemon that nobody asks for come back by themselves, after a pause', async (t) => {
  const fx = backgroundFixture(t);
  const pid = pidFrom((await cli(fx.local, [])).stdout);
  killAfter(t, pid);
  await waitForLog(fx.paths, 'CONNECTED origin');
  // As `rm -rf` would meet it: the daemon may write its state file while the deletion runs.
  removeUnderWriter(fx.paths.dir);
  const deleted = Date.now();
  await eventually(() => existsSync(fx.paths.pidFile) && existsSync(fx.paths.control), 'the files are made again', 10_000);
  // Not at once: an rm -rf of the whole repository must not find new files in its way.
  assert.ok(Date.now() - deleted >= 2500, `made again after ${Date.now() - deleted} ms`);
  await waitForLog(fx.paths, /missing from .*: made again$/);
  assert.equal((await cli(fx.local, ['stop'])).code, 0);
});

test('a daemon whose pid file alone is deleted is still found and stopped', async (t) => {
  const fx = backgroundFixture(t);
  const pid = pidFrom((await cli(fx.local, [])).stdout);
  killAfter(t, pid);
  rmSync(fx.paths.pidFile);
  // Asked before the watchdog writes it again: the lock's holder answers.
  const stopped = await cli(fx.local, ['stop']);
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.match(stopped.stdout, new RegExp(`stopped \\(pid ${pid}\\)`));
  assert.equal(alive(pid), false);
});

test('a daemon whose repository is deleted stops within seconds', async (t) => {
  const fx = backgroundFixture(t);
  const pid = pidFrom((await cli(fx.local, [])).stdout);
  killAfter(t, pid);
  await waitForLog(fx.paths, 'CONNECTED origin');
  const log = readFileSync(fx.paths.log, 'utf8');
  assert.ok(log.length > 0);
  rmSync(fx.local, { recursive: true, force: true, maxRetries: 5 });
  const deleted = Date.now();
  await eventually(() => !alive(pid), 'the orphan is gone', 5000);
  assert.ok(Date.now() - deleted < 5000);
});

test('a --foreground daemon whose repository is deleted says so and stops', async (t) => {
  const fx = backgroundFixture(t);
  const d = startDaemon(fx.local);
  t.after(() => d.stop());
  await d.waitFor('CONNECTED origin');
  rmSync(fx.local, { recursive: true, force: true, maxRetries: 5 });
  await d.waitFor(`WARNING * the repository ${join(fx.local, '.git')} is gone; stopping`);
  assert.equal((await d.exited).code, 0);
});

test('a daemon started in a linked worktree stops when the worktree is deleted', async (t) => {
  const fx = backgroundFixture(t);
  const worktree = join(fx.root, 'wt');
  git(fx.local, 'worktree', 'add', '-q', '-b', 'side', worktree);
  const pid = pidFrom((await cli(worktree, [])).stdout);
  killAfter(t, pid);
  await waitForLog(fx.paths, 'CONNECTED origin');
  rmSync(worktree, { recursive: true, force: true });
  await waitForLog(fx.paths, `# the worktree ${worktree} is gone; stopping`);
  await eventually(() => !alive(pid), 'stopped', 5000);
  assert.equal(existsSync(fx.paths.pidFile), false, 'and it cleaned up after itself');
});

test('the process title names the repository', async (t) => {
  const fx = backgroundFixture(t);
  const pid = pidFrom((await cli(fx.local, [])).stdout);
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '');
  assert.equal(cmdline.split('\0')[0], `git-remote-daemon ${fx.local}`);
  assert.equal((await cli(fx.local, ['stop'])).code, 0);
});

test('--foreground beside a running daemon is refused unless --force; a background start beside --foreground is refused too', async (t) => {
  const fx = backgroundFixture(t);
  const pid = pidFrom((await cli(fx.local, [])).stdout);
  const refused = await cli(fx.local, ['--foreground']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, new RegExp(`a daemon already runs in this repository \\(pid ${pid}\\); stop it first .*--force`));
  const forced = startDaemon(fx.local, ['--foreground', '--force']);
  t.after(() => forced.stop());
  await forced.waitFor('CONNECTED origin');
  assert.equal((await cli(fx.local, ['stop'])).code, 0);

  // Now the --foreground daemon holds the repository: a background start says so.
  const fg = startDaemon(fx.local);
  t.after(() => fg.stop());
  await fg.waitFor('CONNECTED origin');
  await forced.stop();
  const bg = await cli(fx.local, []);
  assert.equal(bg.code, 0, bg.stderr);
  assert.match(bg.stdout, new RegExp(`already running \\(pid ${fg.child.pid}\\)`));
  const status = await cli(fx.local, ['status']);
  assert.match(status.stdout, new RegExp(`running \\(pid ${fg.child.pid}\\) with --foreground`));
  const send = await cli(fx.local, ['pause']);
  assert.equal(send.code, 1);
  assert.match(send.stderr, /runs with --foreground/);
});

test('status --check: 0 while healthy, 2 naming the remote that is disconnected too long', async (t) => {
  const fx = backgroundFixture(t);
  git(fx.local, 'remote', 'add', 'broken', join(fx.root, 'missing.git'));
  assert.equal((await cli(fx.local, [])).code, 0);
  await waitForLog(fx.paths, 'CONNECTED origin');
  await waitForLog(fx.paths, /^WARNING broken cannot connect: /);
  const lenient = await cli(fx.local, ['status', '--check']);
  assert.equal(lenient.code, 0, lenient.stdout);
  assert.match(lenient.stdout, /^healthy: 2 remotes, 1 connected$/m);
  const strict = await cli(fx.local, ['status', '--check', '--max-stale', '0s']);
  assert.equal(strict.code, 2, strict.stdout);
  assert.match(strict.stdout, /^broken: disconnected for \d+s \(allowed: 0s\)$/m);
  assert.doesNotMatch(strict.stdout, /origin/);
  const json = JSON.parse((await cli(fx.local, ['status', '--check', '--json', '--max-stale', '0s'])).stdout) as { healthy: boolean; problems: string[] };
  assert.equal(json.healthy, false);
  assert.equal((await cli(fx.local, ['status', '--check', '--max-stale', 'soon'])).code, 2, 'a bad duration is refused (a usage error)');
  assert.equal((await cli(fx.local, ['send', 'PAUSE'])).code, 0);
  await eventually(() => readFileSync(fx.paths.state, 'utf8').includes('"mode": "paused"'), 'the state file says paused');
  const paused = await cli(fx.local, ['status', '--check', '--max-stale', '0s']);
  assert.equal(paused.code, 0, `a paused daemon is doing what it was told: ${paused.stdout}`);
  assert.equal((await cli(fx.local, ['stop'])).code, 0);
  assert.equal((await cli(fx.local, ['status', '--check'])).code, 3);
});

test('status shows the checked-out branch against its upstream', async (t) => {
  const fx = backgroundFixture(t);
  assert.equal((await cli(fx.local, [])).code, 0);
  await waitForLog(fx.paths, 'CONNECTED origin');
  pushCommit(fx.pusher);
  await waitForLog(fx.paths, 'DONESYNCING origin 1');
  git(fx.local, 'commit', '-q', '--allow-empty', '-m', 'mine');
  const status = await cli(fx.local, ['status']);
  assert.match(status.stdout, /^branch main, 1 ahead and 1 behind origin\/main$/m);
  assert.match(status.stdout, /^ {15}last fetch: \S+Z \(\d+s ago\), ok$/m);
  const json = JSON.parse((await cli(fx.local, ['status', '--json'])).stdout) as { branch: unknown };
  assert.deepEqual(json.branch, { branch: 'main', upstream: 'origin/main', ahead: 1, behind: 1 });
  assert.equal((await cli(fx.local, ['stop'])).code, 0);
});

test('a fetch in progress shows in status with its time; the log says which refs each fetch moved', async (t) => {
  const fx = backgroundFixture(t);
  // The remote's upload-pack waits at a gate, so the fetch is surely running while status is read.
  const gate = join(fx.root, 'gate');
  const slow = join(fx.root, 'slow-upload-pack');
  writeFileSync(slow, `#!/bin/sh\nwhile [ ! -e ${gate} ]; do sleep 0.01; done\nexec git-upload-pack "$@"\n`, { mode: 0o755 });
  git(fx.local, 'config', 'remote.origin.uploadpack', slow);
  const pid = pidFrom((await cli(fx.local, ['start'])).stdout);
  killAfter(t, pid);
  await waitForLog(fx.paths, 'CONNECTED origin');
  const sha = pushCommit(fx.pusher);
  await waitForLog(fx.paths, 'SYNCING origin');
  await eventually(() => readFileSync(fx.paths.state, 'utf8').includes('"fetching"'), 'the state file has the fetch');
  assert.match((await cli(fx.local, ['status'])).stdout, /^ {15}fetching for \d+s/m);
  writeFileSync(gate, '');
  await waitForLog(fx.paths, 'DONESYNCING origin 1');
  // git's own line for the update: `   1a2b3c4..5d6e7f8  main -> origin/main`.
  const moved = await waitForLog(fx.paths, /[0-9a-f]{7,}\.\.[0-9a-f]{7,}\s+main\s+-> origin\/main/);
  assert.ok(moved.some((l) => l.includes(`..${sha.slice(0, 7)}`)), moved.join('\n'));
  await eventually(() => readFileSync(fx.paths.state, 'utf8').includes('"lastChange"'), 'the state file has what the fetch moved');
  const after = (await cli(fx.local, ['status'])).stdout;
  assert.doesNotMatch(after, /fetching for/);
  assert.match(after, /^ {15}last change: \d+s ago, main: 1 new commit$/m);
  assert.equal((await cli(fx.local, ['stop'])).code, 0);
});
