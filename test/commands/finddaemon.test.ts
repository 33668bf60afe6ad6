// Which process is a repository's daemon (src/commands/finddaemon.ts), with real processes titled
// as daemons: the lock holder vouched for by /proc, a daemon whose lock was deleted found in /proc
// and asked to bind it again, the pid file as the fallback, and never a process that only says so.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { findDaemon } from '../../src/commands/finddaemon.js';
import { acquireLock, lockPath } from '../../src/background/lock.js';
import { ownRecord, processStartTime } from '../../src/background/pidfile.js';
import type { DaemonPaths } from '../../src/background/paths.js';
import { eventually } from '../support/daemon.js';
import { daemonDir, titledAsDaemon } from '../support/standin.js';
import { commandLine as cmdline } from '../support/procs.js';

const paths = (t: TestContext) => daemonDir(t, 'grd-finddaemon-');


test('the lock holder, vouched for by /proc, is the daemon, in the mode it says', async (t) => {
  titledAsDaemon(t);
  const p = paths(t);
  const result = await acquireLock(p, 'foreground');
  assert.ok(result.ok);
  t.after(() => result.lock.release());
  assert.deepEqual(await findDaemon(p), { ...ownRecord(), mode: 'foreground' });
});

test('a socket that only says it is the daemon is not believed; the pid file of a live daemon is', async (t) => {
  const p = paths(t);
  // Not titled as a daemon: /proc does not vouch for this process.
  const squatter = createServer((s) => s.end(`${process.pid} background\n`));
  await new Promise<void>((resolve) => squatter.listen(lockPath(p), resolve));
  t.after(() => squatter.close());
  assert.equal(await findDaemon(p), undefined);

  const daemon = spawn('bash', ['-c', "exec -a 'git-remote-daemon background /repo' sleep 60"], { stdio: 'ignore' });
  t.after(() => daemon.kill());
  await eventually(() => cmdline(daemon.pid!).startsWith('git-remote-daemon '), 'the daemon titled');
  const startTime = processStartTime(daemon.pid!)!;
  writeFileSync(p.pidFile, `${daemon.pid} ${startTime}\n`);
  assert.deepEqual(await findDaemon(p), { pid: daemon.pid, startTime, mode: 'background or service' });
});

test('a daemon whose lock file was deleted is found in /proc and asked to bind it again', async (t) => {
  const p = paths(t);
  const path = lockPath(p);
  // A daemon in a child process: holds its lock, binds it again on SIGUSR2 as run.ts does.
  const script = `process.title = 'git-remote-daemon background /repo';
    const net = require('node:net');
    const bind = () => net.createServer((s) => s.end(process.pid + ' service\\n')).listen(${JSON.stringify(path)}, () => console.log('bound'));
    process.on('SIGUSR2', bind);
    bind();`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill());
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await eventually(() => out === 'bound\n', 'the daemon bound its lock');
  unlinkSync(path); // `rm` of its directory's contents: it still holds its socket
  const found = await findDaemon(p);
  assert.deepEqual(found, { pid: child.pid, startTime: processStartTime(child.pid!), mode: 'service' });
  assert.equal(out, 'bound\nbound\n', 'asked with SIGUSR2, it bound its name again');
  assert.equal(existsSync(path), true);
});

test('nothing there: no daemon', async (t) => {
  assert.equal(await findDaemon(paths(t)), undefined);
});
