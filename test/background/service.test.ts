// Service mode, as systemd runs it: the unit template's own command line, stdin /dev/null, log on
// stderr, control through the FIFO, SIGTERM or `stop` ends it with exit code 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { BIN, eventually } from '../support/daemon.js';
import { assertUserUnit, haveSystemdAnalyze } from '../support/systemd.js';
import { git, pushCommit, tempDir } from '../support/git.js';
import { backgroundFixture, cli, pidFrom } from './support.js';

const UNIT = fileURLToPath(new URL('../../../docs/git-remote-daemon@.service', import.meta.url));

/** The unit's [Service] settings (one value per key; ours has no repeated keys). */
function unitSettings(): Record<string, string> {
  const settings: Record<string, string> = {};
  for (const line of readFileSync(UNIT, 'utf8').split('\n')) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (match) settings[match[1]] = match[2];
  }
  return settings;
}

interface Service {
  child: ChildProcess;
  stderr: string[];
  exited: Promise<number | null>;
  waitFor(line: string | RegExp): Promise<void>;
}

/** Runs the unit's ExecStart for `repo` the way systemd would: WorkingDirectory=%f, stdin /dev/null. */
function runUnit(t: { after(fn: () => unknown): void }, repo: string, env: NodeJS.ProcessEnv = {}): Service {
  const unit = unitSettings();
  assert.equal(unit.WorkingDirectory, '%f');
  const argv = unit.ExecStart.split(' ');
  assert.deepEqual(argv, ['/usr/bin/env', 'git-remote-daemon', '--service'], 'the command line this test runs');
  // Put this checkout's launcher on PATH under the name the unit uses.
  const bin = tempDir();
  symlinkSync(BIN, join(bin.path, 'git-remote-daemon'));
  const child = spawn(argv[0], argv.slice(1), {
    cwd: repo,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, PATH: `${bin.path}:${process.env.PATH}`, ...env },
  });
  const stderr: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  createInterface({ input: child.stderr! }).on('line', (l) => stderr.push(l));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    bin.cleanup();
  });
  const waitFor = async (line: string | RegExp) => {
    const test = (l: string) => (typeof line === 'string' ? l === line : line.test(l));
    await eventually(() => stderr.some(test), `stderr has ${String(line)}: ${stderr.join(' | ')}`);
  };
  return { child, stderr, exited, waitFor };
}

test('the unit template verifies (where systemd-analyze is available)', (t) => {
  if (!haveSystemdAnalyze(t)) return;
  const dir = tempDir();
  t.after(() => dir.cleanup());
  // An instance for an existing directory, named as systemd-escape --path would name it.
  const instance = join(dir.path, `git-remote-daemon@${dir.path.slice(1).replace(/-/g, '\\x2d').replace(/\//g, '-')}.service`);
  writeFileSync(instance, readFileSync(UNIT));
  assertUserUnit(readFileSync(UNIT, 'utf8'), instance, dir.path);
});

test('service mode runs with stdin closed, takes control from the FIFO, logs to stderr, and stops cleanly', async (t) => {
  const fx = backgroundFixture(t);
  const service = runUnit(t, fx.local);
  await service.waitFor('CONNECTED origin'); // no timestamp of our own: journald adds it
  const pid = service.child.pid!;
  const status = await cli(fx.local, ['status']);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, new RegExp(`running \\(pid ${pid}\\)`));
  assert.match((await cli(fx.local, [])).stdout, new RegExp(`already running \\(pid ${pid}\\)`));

  // A second service for the same repository refuses to run.
  const second = runUnit(t, fx.local);
  assert.equal(await second.exited, 1);
  assert.ok(second.stderr.some((l) => l.includes(`already running in this repository (pid ${pid})`)), second.stderr.join('\n'));

  // Control through the pipe; config edits reload; action warnings show in status.
  assert.equal((await cli(fx.local, ['send', 'RELOAD'])).code, 0);
  await service.waitFor('# control pipe: RELOAD');
  git(fx.local, 'config', 'remote.origin.remotedaemon-pull', 'ff-only');
  await service.waitFor('# config changed; reloading');
  writeFileSync(join(fx.local, 'dirty.txt'), 'x');
  git(fx.local, 'add', 'dirty.txt');
  pushCommit(fx.pusher);
  await service.waitFor('WARNING origin not fast-forwarding: the working tree or index has local changes');
  await eventually(() => readFileSync(fx.paths.state, 'utf8').includes('not fast-forwarding'), 'state file has the warning');
  // Long lines wrap at 80 columns: join them again to read the text.
  assert.match((await cli(fx.local, ['status'])).stdout.replace(/\n +/g, ' '), /warning \(\d+s ago\): not fast-forwarding: the working tree or index has local changes/);
  assert.equal(service.stderr.some((l) => /^\d{4}-/.test(l)), false, 'no timestamps on stderr');

  // systemctl reload: SIGHUP acts as RELOAD.
  service.child.kill('SIGHUP');
  await service.waitFor('# SIGHUP: reloading');
  assert.equal(service.child.exitCode, null, 'still running after SIGHUP');

  const stopped = await cli(fx.local, ['stop']);
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.equal(pidFrom(stopped.stdout), pid);
  assert.equal(await service.exited, 0, 'a clean stop is exit 0, so Restart=on-failure leaves it stopped');
  for (const file of [fx.paths.pidFile, fx.paths.control, fx.paths.state]) assert.equal(existsSync(file), false, file);
  assert.equal(existsSync(fx.paths.log), false, 'service mode writes no log file');
});

test('service mode: SIGTERM (systemctl stop) is exit 0; with the journal on stderr, lines carry priorities', async (t) => {
  const fx = backgroundFixture(t);
  const service = runUnit(t, fx.local, { JOURNAL_STREAM: '8:12345' });
  await service.waitFor('<6>CONNECTED origin');
  assert.equal((await cli(fx.local, ['send', 'FROB'])).code, 2, 'bad messages are refused before they reach the pipe');
  writeFileSync(fx.paths.control, 'FROB\n', { flag: 'a' });
  await service.waitFor(/^<4>WARNING \* bad control message: unknown message "FROB"$/);
  service.child.kill('SIGTERM');
  assert.equal(await service.exited, 0);
  assert.ok(service.stderr.includes('<6>DISCONNECTED origin'), service.stderr.join('\n'));
  assert.ok(service.stderr.includes('<7># stopped'));
});
