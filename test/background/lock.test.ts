// The repository lock (src/background/lock.ts): a Unix socket in a temporary directory, held by
// this test process (titled as a daemon for the tests that need /proc to vouch for it) or by a
// child process. Who takes it, what the others are told, stale sockets, squatters, and binding
// the name again after the directory was deleted.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, linkSync, mkdirSync, rmSync, unlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { acquireLock, lockHolder, lockPath, type Lock } from '../../src/background/lock.js';
import type { DaemonPaths } from '../../src/background/paths.js';
import { tempDir } from '../support/git.js';

function paths(t: TestContext): DaemonPaths {
  const d = tempDir('grd-lock-');
  t.after(d.cleanup);
  const dir = join(d.path, 'remote-daemon');
  mkdirSync(dir, { mode: 0o700 });
  return { dir } as DaemonPaths; // the lock needs only its directory
}

/** This process carries a daemon's title for the test, as every daemon does before it takes its lock. */
function titledAsDaemon(t: TestContext): void {
  const before = process.title;
  process.title = 'git-remote-daemon test';
  t.after(() => {
    process.title = before;
  });
}

function taken(t: TestContext, result: Awaited<ReturnType<typeof acquireLock>>): Lock {
  assert.ok(result.ok, `the lock was taken (${JSON.stringify(result)})`);
  t.after(() => result.lock.release());
  return result.lock;
}

function listen(t: TestContext, path: string, answer: (socket: import('node:net').Socket) => void): Promise<Server> {
  const server = createServer((socket) => {
    socket.on('error', () => {});
    answer(socket);
  });
  t.after(() => server.close());
  return new Promise((resolve) => server.listen(path, () => resolve(server)));
}

/** A socket file at `path` nobody listens on, as a daemon killed with -9 leaves. */
async function staleSocket(t: TestContext, path: string): Promise<void> {
  const elsewhere = `${path}.bound`;
  const server = await listen(t, elsewhere, () => {});
  linkSync(elsewhere, path);
  await new Promise((resolve) => server.close(resolve)); // removes `elsewhere` only
  assert.equal(existsSync(path), true);
}

test('the first to ask takes the lock; the next is told its pid and mode, and beforeAnswer runs first', async (t) => {
  titledAsDaemon(t);
  const p = paths(t);
  let asked = 0;
  const lock = taken(t, await acquireLock(p, 'foreground', () => asked++));
  assert.equal(lock.held(), true);
  assert.deepEqual(await lockHolder(p), { pid: process.pid, mode: 'foreground' });
  assert.deepEqual(await acquireLock(p, 'background'), { ok: false, holder: { pid: process.pid, mode: 'foreground' } });
  assert.equal(asked, 2);
});

test('a holder /proc does not show to be a daemon of this user is refused as a squatter, whatever it says', async (t) => {
  const p = paths(t);
  // This process without the daemon's title: it answers with its pid, but it is no daemon.
  await listen(t, lockPath(p), (socket) => socket.end(`${process.pid} background\n`));
  await assert.rejects(acquireLock(p, 'background'), /is held by a socket of .* that is not a daemon of yours \(it says pid \d+\)/);
});

test('a holder that answers nonsense is unknown: no lock, and no holder named', async (t) => {
  const p = paths(t);
  await listen(t, lockPath(p), (socket) => socket.end('hello\n'));
  assert.deepEqual(await acquireLock(p, 'background'), { ok: false });
  assert.equal(await lockHolder(p), undefined);
});

test('a holder too busy to answer in time is unknown, not absent: repair leaves its socket alone', async (t) => {
  const p = paths(t);
  const lock = taken(t, await acquireLock(p, 'background'));
  unlinkSync(lockPath(p));
  await listen(t, lockPath(p), () => {}); // accepts, never answers
  assert.equal(await lockHolder(p, 100), undefined);
  assert.equal(await lock.repair(), false);
  assert.equal(existsSync(lockPath(p)), true, 'the silent socket is still there');
  assert.equal(lock.held(), false);
});

test('a socket nobody listens on (its daemon was killed) is taken over', async (t) => {
  titledAsDaemon(t);
  const p = paths(t);
  await staleSocket(t, lockPath(p));
  const lock = taken(t, await acquireLock(p, 'background'));
  assert.equal(lock.held(), true);
  assert.deepEqual(await lockHolder(p), { pid: process.pid, mode: 'background' });
});

test('release frees the name for the next starter', async (t) => {
  const p = paths(t);
  const first = await acquireLock(p, 'background');
  assert.ok(first.ok);
  first.lock.release();
  assert.equal(first.lock.held(), false);
  assert.equal(await lockHolder(p), undefined);
  taken(t, await acquireLock(p, 'service'));
  assert.deepEqual(await lockHolder(p), { pid: process.pid, mode: 'service' });
});

test('release after the name went to another socket leaves that socket alone', async (t) => {
  const p = paths(t);
  const result = await acquireLock(p, 'background');
  assert.ok(result.ok);
  unlinkSync(lockPath(p));
  await listen(t, lockPath(p), (socket) => socket.end('4242 background\n'));
  result.lock.release();
  assert.deepEqual(await lockHolder(p), { pid: 4242, mode: 'background' });
});

test('after its directory was deleted, repair binds the name again; while held, it does nothing', async (t) => {
  const p = paths(t);
  const lock = taken(t, await acquireLock(p, 'background'));
  assert.equal(await lock.repair(), false, 'nothing to repair');
  rmSync(p.dir, { recursive: true });
  mkdirSync(p.dir, { mode: 0o700 });
  assert.equal(lock.held(), false);
  assert.equal(await lock.repair(), true);
  assert.equal(lock.held(), true);
  assert.deepEqual(await lockHolder(p), { pid: process.pid, mode: 'background' });
});

test('repair leaves a socket someone listens on alone, and takes a stale one', async (t) => {
  const p = paths(t);
  const lock = taken(t, await acquireLock(p, 'background'));
  unlinkSync(lockPath(p));
  const other = await listen(t, lockPath(p), (socket) => socket.end('4242 background\n'));
  assert.equal(await lock.repair(), false);
  assert.deepEqual(await lockHolder(p), { pid: 4242, mode: 'background' }, 'the other socket still answers');
  await new Promise((resolve) => other.close(resolve));
  await staleSocket(t, lockPath(p));
  assert.equal(await lock.repair(), true);
  assert.deepEqual(await lockHolder(p), { pid: process.pid, mode: 'background' });
});

test('a starter that binds a deleted name gives way to an older daemon still holding a socket bound there', async (t) => {
  titledAsDaemon(t);
  const p = paths(t);
  const lock = taken(t, await acquireLock(p, 'background'));
  unlinkSync(lockPath(p)); // `rm` of the lock: this process still holds its socket, bound at that path
  // A younger starter (a child process, titled as a daemon) finds the name free and binds it.
  const module = new URL('../../src/background/lock.js', import.meta.url).href;
  const script = `process.title = 'git-remote-daemon starter';
    const { acquireLock } = await import(${JSON.stringify(module)});
    const result = await acquireLock({ dir: ${JSON.stringify(p.dir)} }, 'background');
    console.log(JSON.stringify(result.ok ? { ok: true } : result));
    process.exit(0);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill());
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  await once(child, 'exit');
  assert.deepEqual(JSON.parse(out), { ok: false, holder: { pid: process.pid } });
  assert.equal(existsSync(lockPath(p)), false, 'the starter took its socket away again');
  assert.equal(await lock.repair(), true, 'and the older daemon binds its name again');
});
