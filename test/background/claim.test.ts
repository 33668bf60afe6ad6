// Claiming a daemon's place (src/background/claim.ts) in a temporary directory: the lock, then the
// pid file; whoever holds either is named; and when the pid file cannot be taken, the lock is given
// back, so the next daemon is not kept out by one that never started.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { claimDaemon } from '../../src/background/claim.js';
import { acquireLock, lockPath } from '../../src/background/lock.js';
import { ownRecord, processStartTime } from '../../src/background/pidfile.js';
import type { DaemonPaths } from '../../src/background/paths.js';
import { eventually } from '../support/daemon.js';
import { daemonDir, titledAsDaemon } from '../support/standin.js';

const paths = (t: TestContext) => daemonDir(t, 'grd-claim-');

/** The lock is free again: another process could take it now. */
async function lockIsFree(p: DaemonPaths): Promise<boolean> {
  const again = await acquireLock(p, 'background');
  if (again.ok) again.lock.release();
  return again.ok;
}

test('a free place: the lock and the pid file are this process\'s, and each is given back', async (t) => {
  const p = paths(t);
  const claim = await claimDaemon(p, 'background');
  assert.ok(claim.ok);
  const me = ownRecord();
  assert.equal(readFileSync(p.pidFile, 'utf8'), `${me.pid} ${me.startTime}\n`);
  assert.equal(claim.lock.held(), true);
  claim.releasePidFile();
  assert.equal(existsSync(p.pidFile), false);
  claim.lock.release();
  assert.equal(existsSync(lockPath(p)), false);
});

test('a lock held by a daemon: not claimed, the holder named, the pid file left alone', async (t) => {
  titledAsDaemon(t); // /proc must vouch for the holder, here this very process
  const p = paths(t);
  const held = await acquireLock(p, 'service');
  assert.ok(held.ok);
  t.after(() => held.lock.release());
  writeFileSync(p.pidFile, '1 2\n');
  assert.deepEqual(await claimDaemon(p, 'background'), { ok: false, pid: process.pid });
  assert.equal(readFileSync(p.pidFile, 'utf8'), '1 2\n');
});

test('a lock whose holder does not say who it is: the pid file names it', async (t) => {
  const p = paths(t);
  const mute = createServer((s) => s.end('who knows\n'));
  await new Promise<void>((resolve) => mute.listen(lockPath(p), resolve));
  t.after(() => mute.close());
  assert.deepEqual(await claimDaemon(p, 'background'), { ok: false, pid: undefined }, 'no pid file: no pid');
  writeFileSync(p.pidFile, '4242 99\n');
  assert.deepEqual(await claimDaemon(p, 'background'), { ok: false, pid: 4242 });
});

test('a live daemon in the pid file (one holding no lock): not claimed, and the lock given back', async (t) => {
  const p = paths(t);
  const daemon = spawn('bash', ['-c', "exec -a 'git-remote-daemon background /repo' sleep 60"], { stdio: 'ignore' });
  t.after(() => daemon.kill());
  await eventually(() => {
    try {
      return readFileSync(`/proc/${daemon.pid}/cmdline`, 'utf8').startsWith('git-remote-daemon ');
    } catch {
      return false;
    }
  }, 'the daemon titled');
  writeFileSync(p.pidFile, `${daemon.pid} ${processStartTime(daemon.pid!)}\n`);
  assert.deepEqual(await claimDaemon(p, 'background'), { ok: false, pid: daemon.pid });
  assert.equal(await lockIsFree(p), true, 'the lock was released');
});

test('a stale pid file is replaced', async (t) => {
  const p = paths(t);
  writeFileSync(p.pidFile, '999999999 1\n');
  const claim = await claimDaemon(p, 'background');
  assert.ok(claim.ok);
  t.after(() => claim.lock.release());
  assert.equal(readFileSync(p.pidFile, 'utf8').split(' ')[0], String(process.pid));
  claim.releasePidFile();
});

test('a pid file that cannot be written: a clear error, and the lock given back', async (t) => {
  const p = paths(t);
  const bad = { ...p, pidFile: join(p.dir, 'missing', 'pid') };
  await assert.rejects(claimDaemon(bad, 'background'), (err: Error) => {
    assert.match(err.message, new RegExp(`^cannot claim the pid file ${bad.pidFile}: .*ENOENT`));
    return true;
  });
  assert.equal(await lockIsFree(p), true, 'the lock was released');
});
