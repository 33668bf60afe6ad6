// The shared daemon with real processes: real git, `git remote-daemon` run from bin/ as a user
// runs it, local remotes. Each test has its own global git config (GIT_CONFIG_GLOBAL) and state
// directory (XDG_STATE_HOME), so its registered set and its shared daemon are its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { BIN, eventually } from '../support/daemon.js';
import { assertUserUnit, haveSystemdAnalyze } from '../support/systemd.js';
import { gitWithEnv, makeFixture, pushCommit, refValue, tempDir, type Fixture } from '../support/git.js';
import { alive, cli, killDaemon, logLines, pathsOf, pidFrom, waitForLog, type CliResult } from '../background/support.js';
import { readPidFile } from '../../src/background/pidfile.js';
import { readState } from '../../src/background/state.js';
import type { DaemonPaths } from '../../src/background/paths.js';

interface Env {
  env: NodeJS.ProcessEnv;
  hubDir: string;
  run(cwd: string, ...args: string[]): Promise<CliResult>;
  /** The shared daemon's log, without timestamps. */
  hubLog(): string[];
  waitForHubLog(match: RegExp, timeoutMs?: number): Promise<void>;
  repo(): Fixture & { paths: DaemonPaths };
}

function hubEnv(t: { after(fn: () => unknown): void }): Env {
  const dir = tempDir();
  const env = { GIT_CONFIG_GLOBAL: join(dir.path, 'gitconfig'), XDG_STATE_HOME: join(dir.path, 'state') };
  writeFileSync(env.GIT_CONFIG_GLOBAL, '[user]\n\tname = Test\n\temail = test@example.invalid\n');
  const hubDir = join(env.XDG_STATE_HOME, 'git-remote-daemon');
  const fixtures: (Fixture & { paths: DaemonPaths })[] = [];
  t.after(async () => {
    // A test that failed half-way leaves nothing running.
    const hub = readPidFile(join(hubDir, 'pid'));
    if (hub && alive(hub.pid)) {
      process.kill(hub.pid, 'SIGKILL');
      await eventually(() => !alive(hub.pid), 'the shared daemon is gone');
    }
    for (const fx of fixtures) {
      await killDaemon(fx.paths);
      fx.cleanup();
    }
    dir.cleanup();
  });
  const hubLog = () =>
    existsSync(join(hubDir, 'log'))
      ? readFileSync(join(hubDir, 'log'), 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => l.replace(/^\S+Z /, ''))
      : [];
  return {
    env,
    hubDir,
    run: (cwd, ...args) => cli(cwd, args, env),
    hubLog,
    async waitForHubLog(match, timeoutMs = 10_000) {
      try {
        await eventually(() => hubLog().some((l) => match.test(l)), `the shared log has ${String(match)}`, timeoutMs);
      } catch (err) {
        throw new Error(`${(err as Error).message}; log:\n${hubLog().join('\n')}`);
      }
    },
    repo() {
      const fx = makeFixture();
      const withPaths = { ...fx, paths: pathsOf(fx.local) };
      fixtures.push(withPaths);
      return withPaths;
    },
  };
}

/** The pid the repository's state file names, once its daemon is up and every remote connected. */
function servedBy(paths: DaemonPaths): number | undefined {
  const record = readPidFile(paths.pidFile);
  const state = readState(paths.state);
  if (!record || !state || state.pid !== record.pid || !alive(record.pid)) return undefined;
  return state.remotes.length > 0 && state.remotes.every((r) => r.connected) ? record.pid : undefined;
}

async function fetched(fx: Fixture, what: string): Promise<void> {
  const sha = pushCommit(fx.pusher);
  await eventually(() => refValue(fx.local, 'refs/remotes/origin/main') === sha, `${what} fetched ${sha}`);
}

async function ok(result: Promise<CliResult>, what: string): Promise<CliResult> {
  const r = await result;
  assert.equal(r.code, 0, `${what}: ${r.stdout}${r.stderr}`);
  return r;
}

test('two repositories in one shared daemon: both fetched; status, pause, fetch, log inside each reach it; status --all; stop inside one leaves the other; stop --all', async (t) => {
  const h = hubEnv(t);
  const a = h.repo();
  const b = h.repo();
  assert.match((await ok(h.run(a.local, 'register'), 'register a')).stdout, /registered .*local; start the shared daemon/);
  await ok(h.run(b.root, 'register', 'local'), 'register b');
  assert.match((await ok(h.run(b.local, 'register'), 'again')).stdout, /already registered: /);
  assert.equal((await ok(h.run(a.root, 'list'), 'list')).stdout, `${a.local}\n${b.local}\n`);

  const started = await ok(h.run(a.root, 'start', '--all'), 'start --all');
  const hub = pidFrom(started.stdout);
  assert.match((await ok(h.run(a.root, 'start', '--all'), 'again')).stdout, new RegExp(`already running \\(pid ${hub}\\)`));
  await eventually(() => servedBy(a.paths) === hub && servedBy(b.paths) === hub, 'both served by the shared daemon');
  // Its own files, private: a 0700 directory, a 0600 log and pid file.
  assert.equal((await import('node:fs')).statSync(h.hubDir).mode & 0o777, 0o700);
  for (const f of ['pid', 'log']) assert.equal((await import('node:fs')).statSync(join(h.hubDir, f)).mode & 0o777, 0o600);

  await fetched(a, 'a');
  await fetched(b, 'b');

  // The per-repository commands, unchanged, reach the shared daemon.
  assert.match((await ok(h.run(a.local, 'status'), 'status a')).stdout, new RegExp(`running \\(pid ${hub}, the shared daemon\\)`));
  await ok(h.run(a.local, 'pause'), 'pause a');
  await eventually(() => readState(a.paths.state)?.mode === 'paused', 'a paused');
  assert.equal(readState(b.paths.state)?.mode, 'running', 'b not paused');
  await ok(h.run(a.local, 'resume'), 'resume a');
  await eventually(() => servedBy(a.paths) === hub && readState(a.paths.state)?.mode === 'running', 'a running again');
  assert.match((await ok(h.run(b.local, 'fetch'), 'fetch b')).stdout, new RegExp(`asked the daemon \\(pid ${hub}\\) to fetch from origin`));
  await ok(h.run(b.local, 'fetch', '--wait'), 'fetch --wait b');
  assert.match((await ok(h.run(b.local, 'log'), 'log b')).stdout, /CONNECTED origin/);
  assert.doesNotMatch((await ok(h.run(b.local, 'log'), 'log b')).stdout, /PAUSE/, "a's lines are in a's log only");

  const all = await ok(h.run(a.root, 'status', '--all'), 'status --all');
  assert.match(all.stdout, new RegExp(`^shared daemon running \\(pid ${hub}\\)`));
  assert.match(all.stdout, new RegExp(`\\n${a.local}  shared, 1/1 connected, last change \\d+s ago\\n`));
  assert.match(all.stdout, new RegExp(`\\n${b.local}  shared, 1/1 connected, last change \\d+s ago$`, 'm'));

  // `stop` inside a repository stops serving that one only.
  const stopped = await ok(h.run(a.local, 'stop'), 'stop in a');
  assert.match(stopped.stdout, /stopped serving this repository; it serves the others still/);
  assert.ok(alive(hub), 'the shared daemon runs on');
  assert.equal(existsSync(a.paths.pidFile), false, "a's files removed");
  assert.equal((await h.run(a.local, 'status')).code, 3);
  assert.match((await ok(h.run(a.root, 'status', '--all'), 'status --all')).stdout, new RegExp(`${a.local}  not served`));
  await fetched(b, 'b after a stopped');
  // It stays stopped until asked again: register asks.
  await ok(h.run(a.local, 'register'), 'register a again');
  await eventually(() => servedBy(a.paths) === hub, 'a served again');

  const end = await ok(h.run(a.root, 'stop', '--all'), 'stop --all');
  assert.match(end.stdout, new RegExp(`stopped the shared daemon \\(pid ${hub}\\)`));
  assert.equal(alive(hub), false);
  for (const fx of [a, b]) assert.deepEqual([existsSync(fx.paths.pidFile), existsSync(fx.paths.state), existsSync(fx.paths.control)], [false, false, false]);
  const none = await h.run(a.root, 'status', '--all');
  assert.equal(none.code, 3);
  assert.match(none.stdout, new RegExp(`${b.local}  not served`));
});

test('register and unregister while it runs (within 2 s), the lock freed for a daemon of its own; a daemon of its own keeps its repository', async (t) => {
  const h = hubEnv(t);
  const a = h.repo();
  const b = h.repo();
  const c = h.repo();
  await ok(h.run(a.local, 'register'), 'register a');
  const own = pidFrom((await ok(h.run(c.local, 'start'), 'own daemon in c')).stdout);
  await ok(h.run(c.local, 'register'), 'register c');
  // Started from a hook, say, with GIT_DIR set: the shared daemon drops git's repository-local variables.
  const hub = pidFrom((await ok(cli(a.root, ['start', '--all'], { ...h.env, GIT_DIR: join(c.local, '.git'), GIT_WORK_TREE: c.local }), 'start --all')).stdout);
  await eventually(() => servedBy(a.paths) === hub, 'a served');
  await h.waitForHubLog(new RegExp(`^# ${c.local}: a daemon of its own serves it \\(pid ${own}\\); left alone until it stops$`));
  await eventually(() => servedBy(c.paths) === own, 'c still its own daemon');

  // Registered while running: served within 2 s.
  await ok(h.run(b.local, 'register'), 'register b');
  await eventually(() => readPidFile(b.paths.pidFile)?.pid === hub, 'b served within 2 s', 2000);
  await fetched(b, 'b');
  // Registered by hand (no signal): the global config file is watched.
  const d = h.repo();
  gitWithEnv(d.local, h.env as Record<string, string>, 'config', '--global', '--add', 'remotedaemon.repo', d.local);
  await eventually(() => readPidFile(d.paths.pidFile)?.pid === hub, 'd served within 2 s of a hand edit', 2000);

  // Unregistered while running: its remotes stopped and its lock freed within 2 s.
  assert.match((await ok(h.run(a.local, 'unregister'), 'unregister a')).stdout, /unregistered /);
  await eventually(() => !existsSync(a.paths.pidFile) && !existsSync(join(a.paths.dir, 'lock')), "a's daemon files gone within 2 s", 2000);
  assert.match((await ok(h.run(a.local, 'unregister'), 'unregister a again')).stdout, /not registered: /);
  const mine = pidFrom((await ok(h.run(a.local, 'start'), 'a daemon of its own for a')).stdout);
  assert.notEqual(mine, hub);
  await ok(h.run(a.local, 'stop'), 'stop a');

  // Its own daemon stopped, c is taken by the shared one (it watches the lock).
  await ok(h.run(c.local, 'stop'), 'stop c');
  await eventually(() => servedBy(c.paths) === hub, 'c served by the shared daemon once its own stopped');
  await fetched(c, 'c');
  await ok(h.run(a.root, 'stop', '--all'), 'stop --all');
});

test('register writes the global config without making the served repositories reload; a setting there besides the set reloads every one', async (t) => {
  const h = hubEnv(t);
  const a = h.repo();
  const b = h.repo();
  await ok(h.run(a.local, 'register'), 'register a');
  const hub = pidFrom((await ok(h.run(a.root, 'start', '--all'), 'start --all')).stdout);
  await eventually(() => servedBy(a.paths) === hub, 'a served');
  await ok(h.run(b.local, 'register'), 'register b');
  await eventually(() => servedBy(b.paths) === hub, 'b served');
  // A real setting: every repository reads the global config, so each reloads once.
  gitWithEnv(a.local, h.env as Record<string, string>, 'config', '--global', 'url.file:///nowhere/.insteadOf', 'nowhere:');
  await waitForLog(a.paths, /^# global config changed; reloading$/);
  await waitForLog(b.paths, /^# global config changed; reloading$/);
  // The register before it changed nothing a repository reads: a reloaded for the setting alone.
  assert.deepEqual(logLines(a.paths).filter((l) => /reloading/.test(l)), ['# global config changed; reloading']);
  await fetched(a, 'a after the reload');
  await ok(h.run(a.root, 'stop', '--all'), 'stop --all');
});

test('one repository broken at run time (invalid config, then deleted), one whose config is broken from the start (served once fixed, then its afterFetch failing), one not a repository at all, and the others keep syncing', async (t) => {
  const h = hubEnv(t);
  const a = h.repo();
  const b = h.repo();
  const c = h.repo();
  const notRepo = join(a.root, 'plain');
  mkdirSync(notRepo);
  await ok(h.run(a.local, 'register'), 'register a');
  await ok(h.run(b.local, 'register'), 'register b');
  await ok(h.run(c.local, 'register'), 'register c');
  // c's config git refuses from the start: set aside with one line, served once it is fixed.
  const config = join(c.local, '.git', 'config');
  const good = readFileSync(config, 'utf8');
  writeFileSync(config, `${good}[broken\n`);
  writeFileSync(h.env.GIT_CONFIG_GLOBAL!, `${readFileSync(h.env.GIT_CONFIG_GLOBAL!, 'utf8')}\trepo = ${notRepo}\n`);
  const hub = pidFrom((await ok(h.run(a.root, 'start', '--all'), 'start --all')).stdout);
  await eventually(() => servedBy(a.paths) === hub && servedBy(b.paths) === hub, 'both served');
  await h.waitForHubLog(new RegExp(`^# ${notRepo}: not a git repository$`));
  await h.waitForHubLog(new RegExp(`^# ${c.local}: cannot serve it: `));
  assert.match((await ok(h.run(b.root, 'status', '--all'), 'status --all')).stdout, new RegExp(`${c.local}  not served`));
  writeFileSync(config, good);
  await eventually(() => servedBy(c.paths) === hub, 'c served once its config is fixed');
  await h.waitForHubLog(new RegExp(`^# ${c.local}: its config changed; trying again$`));
  // c's afterFetch fails: a warning in c's log and status, nothing in b's.
  gitWithEnv(c.local, h.env as Record<string, string>, 'config', 'remotedaemon.afterFetch', 'echo boom; exit 3');
  await eventually(() => readFileSync(c.paths.log, 'utf8').includes('config changed; reloading'), 'c reloaded');
  await fetched(c, 'c');
  await eventually(() => readFileSync(c.paths.log, 'utf8').includes('WARNING origin afterFetch command failed'), "c's afterFetch failed");
  await fetched(b, 'b beside a failing afterFetch');
  assert.doesNotMatch(readFileSync(b.paths.log, 'utf8'), /afterFetch/);

  // A config git refuses: a's reload fails, b goes on.
  writeFileSync(join(a.local, '.git', 'config'), '[broken\n');
  await eventually(() => readFileSync(a.paths.log, 'utf8').includes('config changed; reloading'), 'a reloaded');
  await fetched(b, 'b beside a broken config');
  assert.ok(alive(hub));

  // a deleted: dropped with one line, b goes on.
  rmSync(a.root, { recursive: true, force: true });
  await h.waitForHubLog(new RegExp(`^# ${a.local}: dropped: .* is gone$`));
  await fetched(b, 'b beside a deleted repository');
  assert.ok(alive(hub));
  const all = await ok(h.run(b.root, 'status', '--all'), 'status --all');
  assert.match(all.stdout, new RegExp(`${a.local}  gone \\(no such directory\\)`));
  assert.match(all.stdout, new RegExp(`${b.local}  shared, 1/1 connected`));
  await ok(h.run(b.root, 'stop', '--all'), 'stop --all');
});

test('--service --all runs in the foreground as the user unit does: log on stderr, SIGHUP reloads every repository, SIGTERM ends it with 0', async (t) => {
  const h = hubEnv(t);
  const a = h.repo();
  await ok(h.run(a.local, 'register'), 'register a');
  const unit = readFileSync(new URL('../../../docs/git-remote-daemon.service', import.meta.url), 'utf8');
  assert.match(unit, /^ExecStart=\/usr\/bin\/env git-remote-daemon --service --all$/m);
  assert.match(unit, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
  const child = spawn(process.execPath, [BIN, '--service', '--all'], { cwd: h.hubDir.replace(/\/state\/.*/, ''), env: { ...process.env, ...h.env }, stdio: ['ignore', 'ignore', 'pipe'] });
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (l) => stderr.push(l));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  await eventually(() => servedBy(a.paths) === child.pid, 'a served by the service');
  assert.ok(stderr.some((l) => l === `# ${a.local}: serving`), stderr.join('\n'));
  // A second shared daemon refuses.
  const second = await h.run(a.root, '--service', '--all');
  assert.equal(second.code, 1);
  assert.match(second.stderr, new RegExp(`the shared daemon is already running \\(pid ${child.pid}\\)`));
  child.kill('SIGHUP');
  await eventually(() => readFileSync(a.paths.log, 'utf8').includes('# SIGHUP: reloading'), "a's log says it reloads");
  // stderr is a pipe, written asynchronously: the line may come after a's log has its own.
  await eventually(() => stderr.some((l) => l.startsWith('# SIGHUP: reading the registered repositories again')), `stderr says SIGHUP: ${stderr.join(' | ')}`);
  await fetched(a, 'a');
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.equal(existsSync(a.paths.pidFile), false);
});

test('--service --all with nothing registered stays up: a repository registered later is served, SIGTERM ends it with 0', async (t) => {
  const h = hubEnv(t);
  const a = h.repo();
  const child = spawn(process.execPath, [BIN, '--service', '--all'], { cwd: h.hubDir.replace(/\/state\/.*/, ''), env: { ...process.env, ...h.env }, stdio: ['ignore', 'ignore', 'pipe'] });
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (l) => stderr.push(l));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  await eventually(() => stderr.some((l) => l.includes('serving 0 repositories')), `it starts with none: ${stderr.join(' | ')}`);
  // Before the fix it had exited by now, with 0: nothing held its event loop.
  await ok(h.run(a.local, 'register'), 'register a');
  await eventually(() => servedBy(a.paths) === child.pid, `a served by the service that started with none: ${stderr.join(' | ')}`);
  await fetched(a, 'a');
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
});

test('the shared user unit verifies (where systemd-analyze is available)', (t) => {
  if (!haveSystemdAnalyze(t)) return;
  const dir = tempDir();
  t.after(() => dir.cleanup());
  const unit = join(dir.path, 'git-remote-daemon.service');
  writeFileSync(unit, readFileSync(new URL('../../../docs/git-remote-daemon.service', import.meta.url)));
  assertUserUnit(readFileSync(unit, 'utf8'), unit, dir.path);
});
