// The thin git-remote-p2p the daemon's own fetches run (workers/p2p/held/git-remote-p2p): fetch
// only, anything it does not know goes to the full helper, and the peer node answers git's
// `connect` for it. The daemon's fetches through it are in daemon.test.ts and the bench.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { makeFixture, tempDir } from '../support/git.js';

const HELD = fileURLToPath(new URL('../../../workers/p2p/held/git-remote-p2p', import.meta.url));
const KEY = 'ab'.repeat(32);
const URL_ = `p2p://${KEY}`;

function setup(t: { after(fn: () => unknown): void }) {
  const dir = tempDir('grd-held-');
  t.after(() => dir.cleanup());
  const fallback = join(dir.path, 'full-helper');
  writeFileSync(fallback, '#!/bin/sh\necho "full helper: $*"\n');
  chmodSync(fallback, 0o755);
  const socket = join(dir.path, 'p2p.sock');
  const env = { ...process.env, GRD_P2P_SOCKET: socket, GRD_P2P_URL: URL_, GRD_P2P_PEER: KEY, GRD_P2P_FALLBACK: fallback };
  return { dir: dir.path, socket, env };
}

function listen(socket: string, answer: (request: string) => string): Promise<{ requests: string[]; close(): void }> {
  const requests: string[] = [];
  const server = createServer({ allowHalfOpen: true }, (s) => {
    let text = '';
    s.on('data', (d: Buffer) => {
      text += d.toString();
      const nl = text.indexOf('\n');
      if (nl < 0 || requests.length > 0) return;
      requests.push(text.slice(0, nl));
      s.end(answer(text.slice(0, nl)));
    });
  });
  return new Promise((resolve) => server.listen(socket, () => resolve({ requests, close: () => server.close() })));
}

test('the thin helper refuses a push before it sends anything, and hands an unknown URL to the full helper', async (t) => {
  const { env, socket } = setup(t);
  const node = await listen(socket, () => '\n');
  t.after(() => node.close());
  const push = spawnSync('sh', [HELD, 'b', URL_], { input: 'capabilities\nconnect git-receive-pack\n', env, encoding: 'utf8' });
  assert.equal(push.status, 128);
  assert.equal(push.stdout, 'connect\n\n');
  assert.match(push.stderr, /peers are read-only: git-receive-pack is refused/);
  assert.deepEqual(node.requests, []);

  const other = spawnSync('sh', [HELD, 'c', 'p2p://someoneelse'], { input: 'capabilities\n', env, encoding: 'utf8' });
  assert.equal(other.stdout, 'full helper: c p2p://someoneelse\n');
  const badKey = spawnSync('sh', [HELD, 'b', URL_], { input: 'capabilities\n', env: { ...env, GRD_P2P_PEER: 'x"y' }, encoding: 'utf8' });
  assert.equal(badKey.stdout, `full helper: b ${URL_}\n`);
  const noSocket = spawnSync('sh', [HELD, 'b', URL_], { input: 'capabilities\n', env: { ...env, GRD_P2P_SOCKET: `${socket}.gone` }, encoding: 'utf8' });
  assert.equal(noSocket.stdout, `full helper: b ${URL_}\n`);
  assert.deepEqual(node.requests, []);
});

test('the thin helper asks the node for the peer and relays its answer to git as it is', async (t) => {
  const { env, socket } = setup(t);
  const node = await listen(socket, () => '\n0000');
  t.after(() => node.close());
  // Not spawnSync: the node answering is in this process.
  const child = spawn('sh', [HELD, 'b', URL_], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin.end('capabilities\nconnect git-upload-pack\nfrom git');
  const started = Date.now();
  const code = await new Promise((resolve) => child.on('close', resolve));
  assert.equal(code, 0, stderr);
  assert.equal(stdout, 'connect\n\n\n0000');
  assert.ok(Date.now() - started < 1500, 'ended when both sides had, not after the hang-up grace');
  assert.deepEqual(node.requests.map((r) => JSON.parse(r)), [{ peer: KEY, v2: true, answer: 'git' }]);
});

test('a git fetch whose session the peer ends half-way through fails at once, not when the daemon gives up on it', async (t) => {
  const { env, socket, dir } = setup(t);
  const fixture = makeFixture();
  t.after(() => fixture.cleanup());
  // The node: answers git's connect, serves the first bytes of a real upload-pack's answer, then
  // ends the session, as a link dropped mid-session does (helpersocket.ts ends the socket).
  const server = createServer({ allowHalfOpen: true }, (s) => {
    s.once('data', () => {
      s.write('\n');
      const uploadPack = spawn('git', ['upload-pack', fixture.remote], { env: { ...env, GIT_PROTOCOL: 'version=2' }, stdio: ['pipe', 'pipe', 'ignore'] });
      s.on('error', () => {});
      uploadPack.stdout.once('data', (chunk: Buffer) => {
        s.end(chunk.subarray(0, 100));
        uploadPack.kill();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  t.after(() => server.close());
  const held = dirname(HELD);
  const fetch = spawn('git', ['-C', fixture.local, '-c', 'protocol.version=2', 'fetch', URL_, '+refs/heads/*:refs/remotes/peer/*'], {
    env: { ...env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', PATH: `${held}:${process.env.PATH}` },
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  fetch.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  // Before the fix the thin helper waited for git, which waited for it: only a kill ended the fetch.
  const hung = setTimeout(() => fetch.kill('SIGKILL'), 10_000);
  const [code, signal] = (await once(fetch, 'close')) as [number | null, NodeJS.Signals | null];
  clearTimeout(hung);
  assert.equal(signal, null, `the fetch hung until killed; stderr: ${stderr}`);
  assert.equal(code, 128, stderr);
  assert.match(stderr, /fatal: /);
});
