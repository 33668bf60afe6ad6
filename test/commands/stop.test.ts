// `stop` (src/commands/stop.ts) in a throwaway repository: a daemon in a child process (titled as
// one, in the pid file) is ended with SIGTERM and waited for; where the shared daemon serves the
// repository (this process stands in for it) only STOP goes down its pipe, and it is never signalled.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { stopCommand } from '../../src/commands/stop.js';
import { isAlive, processStartTime } from '../../src/background/pidfile.js';
import { eventually } from '../support/daemon.js';
import { pipeReader, repoHere, standIn } from '../support/standin.js';
import { commandLine as cmdline } from '../support/procs.js';


test('no daemon: nothing to do, exit 0', async (t) => {
  const { repo } = repoHere(t);
  assert.deepEqual(await stopCommand(repo), { code: 0, message: 'no daemon is running in this repository' });
});

test('a daemon of its own is sent SIGTERM and waited for', async (t) => {
  const { repo, paths } = repoHere(t);
  const daemon = spawn('bash', ['-c', `exec -a 'git-remote-daemon background ${repo}' sleep 60`], { stdio: 'ignore' });
  t.after(() => daemon.kill('SIGKILL'));
  const exited = once(daemon, 'exit');
  await eventually(() => cmdline(daemon.pid!).startsWith('git-remote-daemon '), 'the daemon titled');
  const record = { pid: daemon.pid!, startTime: processStartTime(daemon.pid!)! };
  writeFileSync(paths.pidFile, `${record.pid} ${record.startTime}\n`);
  assert.deepEqual(await stopCommand(repo), { code: 0, message: `stopped (pid ${daemon.pid})` });
  assert.equal(isAlive(record), false, 'gone by the time stop returns');
  assert.deepEqual(await exited, [null, 'SIGTERM']);
});

test('a pid file naming a process that is not a daemon: it is left alone', async (t) => {
  const { repo, paths } = repoHere(t);
  const other = spawn('sleep', ['60'], { stdio: 'ignore' });
  t.after(() => other.kill('SIGKILL'));
  await eventually(() => processStartTime(other.pid!) !== undefined, 'started');
  writeFileSync(paths.pidFile, `${other.pid} ${processStartTime(other.pid!)}\n`);
  assert.deepEqual(await stopCommand(repo), { code: 0, message: 'no daemon is running in this repository' });
  assert.equal(other.exitCode, null);
  assert.equal(other.signalCode, null);
});

test('the shared daemon is asked to stop serving this repository (STOP), not signalled; done once it lets go', async (t) => {
  const { repo, paths } = repoHere(t);
  const hub = await standIn(t, paths, 'shared'); // were it signalled, this very process would end
  const pipe = pipeReader(t, paths);
  let settled = false;
  const stopping = stopCommand(repo).finally(() => (settled = true));
  await eventually(() => pipe.read() === 'STOP\n', 'STOP on the pipe');
  assert.equal(settled, false, 'waiting while the shared daemon still serves the repository');
  hub.release(); // it stopped serving the repository: its lock there is gone
  const result = await stopping;
  assert.equal(result.code, 0);
  assert.match(result.message, new RegExp(`^the shared daemon \\(pid ${process.pid}\\) stopped serving this repository; it serves the others still`));
});

test('the shared daemon with no pipe to ask on: exit 1 with why, and it is not signalled', async (t) => {
  const { repo, paths } = repoHere(t);
  await standIn(t, paths, 'shared');
  const result = await stopCommand(repo);
  assert.equal(result.code, 1);
  assert.equal(result.message, `cannot ask the shared daemon (pid ${process.pid}) to stop serving this repository: no control pipe at ${paths.control}: is the daemon running?`);
});
