// Who is a repository's daemon, judged from /proc (src/background/daemonprocesses.ts), with real
// sockets and processes: the title, this user, the start time and a socket bound at the lock path
// must all hold; a socket whose file was deleted still counts; what a process says counts for nothing.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, unlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { describeUser, lockHoldersByProc, olderFirst, socketInodes, TITLE_PREFIX, verifyDaemon } from '../../src/background/daemonprocesses.js';
import { processStartTime } from '../../src/background/pidfile.js';
import { tempDir } from '../support/git.js';
import { eventually } from '../support/daemon.js';

function dir(t: TestContext): string {
  const d = tempDir('grd-daemonprocesses-');
  t.after(d.cleanup);
  return d.path;
}

async function listen(t: TestContext, path: string): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(path, resolve));
  t.after(() => server.close());
  return server;
}

function titled(t: TestContext, title = `${TITLE_PREFIX}test`): void {
  const before = process.title;
  process.title = title;
  t.after(() => {
    process.title = before;
  });
}

/** A child process titled as a daemon that binds a socket at `path`; resolves once it is bound. */
async function childHolding(t: TestContext, path: string, options: { uid?: number } = {}): Promise<number> {
  const script = `process.title = ${JSON.stringify(`${TITLE_PREFIX}child`)};
    require('node:net').createServer().listen(${JSON.stringify(path)}, () => console.log('bound'));`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'], ...options });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await eventually(() => out === 'bound\n', 'the child bound its socket');
  return child.pid!;
}

test('describeUser: the name the passwd file gives, else the uid alone', () => {
  const uid = process.getuid!();
  const name = execFileSync('id', ['-un'], { encoding: 'utf8' }).trim();
  assert.equal(describeUser(uid), `${name} (uid ${uid})`);
  assert.equal(describeUser(2_000_000_123), 'uid 2000000123');
});

test('socketInodes: every live socket bound at the path, a deleted one too; none once closed', async (t) => {
  const lock = join(dir(t), 'a lock with spaces');
  assert.equal(socketInodes(lock).size, 0);
  const first = await listen(t, lock);
  assert.equal(socketInodes(lock).size, 1);
  assert.equal(socketInodes(`${lock}x`).size, 0, 'the whole path, not a prefix');
  unlinkSync(lock); // its file deleted: the kernel still has the path
  const second = await listen(t, lock);
  assert.equal(socketInodes(lock).size, 2);
  second.close();
  first.close();
  await eventually(() => socketInodes(lock).size === 0, 'both closed');
});

test('verifyDaemon: this user\'s titled process holding a socket at the lock path, and nothing less', async (t) => {
  const lock = join(dir(t), 'lock');
  const startTime = processStartTime(process.pid)!;
  titled(t);
  assert.equal(verifyDaemon(process.pid, lock), undefined, 'no socket there');
  await listen(t, lock);
  assert.deepEqual(verifyDaemon(process.pid, lock), { pid: process.pid, startTime });
  assert.deepEqual(verifyDaemon(process.pid, lock, startTime), { pid: process.pid, startTime });
  assert.equal(verifyDaemon(process.pid, lock, String(Number(startTime) + 1)), undefined, 'a later process with the same pid');
  assert.equal(verifyDaemon(process.pid, join(dir(t), 'other-lock')), undefined, 'another repository\'s lock');
  for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 40]) assert.equal(verifyDaemon(bad, lock), undefined, String(bad));
  process.title = 'node not-a-daemon';
  assert.equal(verifyDaemon(process.pid, lock), undefined, 'without the title');
});

test('lockHoldersByProc: every titled holder, a deleted socket\'s too, oldest first', async (t) => {
  const lock = join(dir(t), 'lock');
  assert.deepEqual(lockHoldersByProc(lock), []);
  titled(t);
  const child = await childHolding(t, lock);
  unlinkSync(lock); // the child's directory entry removed; it holds its socket still
  await listen(t, lock);
  const found = lockHoldersByProc(lock);
  assert.deepEqual(found.map((p) => p.pid), [process.pid, child], 'this process started first');
  assert.deepEqual(found[1], { pid: child, startTime: processStartTime(child) });
  process.title = 'node not-a-daemon';
  assert.deepEqual(lockHoldersByProc(lock).map((p) => p.pid), [child], 'an untitled holder is not a daemon');
});

test('another user\'s process is never this user\'s daemon, whatever it holds and says', async (t) => {
  if (process.getuid!() !== 0) return t.skip('needs root to run a process as another user');
  if (spawnSync(process.execPath, ['--version'], { uid: 65534, stdio: 'ignore' }).status !== 0) return t.skip('node cannot run as nobody here');
  const d = dir(t);
  chmodSync(d, 0o777);
  const lock = join(d, 'lock');
  const other = await childHolding(t, lock, { uid: 65534 });
  assert.equal(socketInodes(lock).size, 1);
  assert.equal(verifyDaemon(other, lock), undefined);
  assert.deepEqual(lockHoldersByProc(lock), []);
});

test('olderFirst: by start time, the pid breaking a tie, the same way from either side', () => {
  const a = { pid: 50, startTime: '100' };
  const b = { pid: 10, startTime: '200' };
  const c = { pid: 20, startTime: '100' };
  assert.deepEqual([b, a, c].sort(olderFirst), [c, a, b]);
  assert.ok(olderFirst(a, c) > 0 && olderFirst(c, a) < 0);
  assert.equal(olderFirst(a, { ...a }), 0);
  // Numbers, not strings: '99' is older than '100'.
  assert.ok(olderFirst({ pid: 1, startTime: '99' }, { pid: 1, startTime: '100' }) < 0);
});
