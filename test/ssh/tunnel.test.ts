// The fetch tunnel against a real sshd: git fetch through the held connection, exit status and
// stderr reaching git, refusal of anything that is not a git transport command, a private dir.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { ChannelQueue } from '../../workers/ssh/channels.js';
import { startTunnel, type Tunnel } from '../../workers/ssh/tunnel.js';
import { connectClient, gitEnv, makeSshFixture, push, type SshFixture } from './fixture.js';
import type { Client } from 'ssh2';

interface Setup {
  fx: SshFixture;
  client: Client;
  queue: ChannelQueue;
  tunnel: Tunnel;
  logs: string[];
}

async function setup(t: { after(fn: () => unknown): void }): Promise<Setup> {
  const fx = await makeSshFixture();
  t.after(() => fx.cleanup());
  const client = await connectClient(fx.sshd);
  t.after(() => client.end());
  const queue = new ChannelQueue(client);
  const logs: string[] = [];
  const tunnel = await startTunnel({
    queue,
    userHost: `${fx.sshd.user}@${fx.sshd.host}`,
    port: String(fx.sshd.port),
    fallbackSsh: fx.sshd.sshCommand,
    log: (text) => logs.push(text),
  });
  t.after(() => tunnel.close());
  return { fx, client, queue, tunnel, logs };
}

/** Runs git asynchronously (the tunnel lives in this process); resolves with status and output. */
function runGit(cwd: string, env: Record<string, string>, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { cwd, env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('git fetch goes through the held connection and moves the tracking ref', async (t) => {
  const { fx, tunnel } = await setup(t);
  const sha = push(fx);
  const before = await fx.sshd.authenticatedCount();
  const result = await runGit(fx.local, tunnel.env, ['fetch', 'origin']);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(gitEnv(fx.local, {}, 'rev-parse', 'refs/remotes/origin/main'), sha);
  assert.equal(await fx.sshd.authenticatedCount(), before, 'the fetch opened no new ssh connection');
});

test('the tunnel directory is private and removed on close', async (t) => {
  const { tunnel } = await setup(t);
  assert.equal(statSync(tunnel.dir).mode & 0o777, 0o700);
  await tunnel.close();
  assert.equal(existsSync(tunnel.dir), false);
});

test('a failing remote command fails the fetch and its stderr reaches git', async (t) => {
  const { fx, tunnel } = await setup(t);
  const result = await runGit(fx.local, tunnel.env, ['fetch', fx.sshd.url('/nonexistent/repo.git')]);
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /does not appear to be a git repository|not a git repository|No such/i);
});

test('commands other than git transport commands are refused', async (t) => {
  const { fx, tunnel } = await setup(t);
  const result = await runGit(fx.local, { ...tunnel.env, GIT_TRACE: '0' }, [
    '-c', 'remote.origin.uploadpack=touch /tmp/grd-should-not-exist;git-upload-pack', 'fetch', 'origin',
  ]);
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /refusing to relay/);
});

test('twelve fetches at once on one connection all succeed', async (t) => {
  const { fx, tunnel, queue } = await setup(t);
  push(fx);
  let peak = 0;
  const timer = setInterval(() => (peak = Math.max(peak, queue.active)), 1);
  t.after(() => clearInterval(timer));
  const results = await Promise.all(
    Array.from({ length: 12 }, () => runGit(fx.local, tunnel.env, ['ls-remote', 'origin'])),
  );
  clearInterval(timer);
  for (const r of results) assert.equal(r.code, 0, r.stderr);
  assert.ok(peak <= 8, `at most 8 channels in use (saw ${peak})`);
});

test('a fetch for another host falls back to plain ssh', async (t) => {
  const { fx, tunnel } = await setup(t);
  const before = await fx.sshd.authenticatedCount();
  // Same server, but named by "localhost": not the connection the worker holds.
  const url = fx.url.replace('127.0.0.1', 'localhost');
  const result = await runGit(fx.local, {
    ...tunnel.env,
    GIT_REMOTE_DAEMON_FALLBACK_SSH: `${fx.sshd.sshCommand} -o 'HostKeyAlias=[127.0.0.1]:${fx.sshd.port}'`,
  }, ['ls-remote', url]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(await fx.sshd.authenticatedCount(), before + 1);
});

test('a standby upload-pack serves a v2 fetch; a v0 fetch gets its own', async (t) => {
  const fx = await makeSshFixture();
  t.after(() => fx.cleanup());
  const client = await connectClient(fx.sshd);
  t.after(() => client.end());
  const queue = new ChannelQueue(client);
  const tunnel = await startTunnel({
    queue,
    userHost: `${fx.sshd.user}@${fx.sshd.host}`,
    port: String(fx.sshd.port),
    standbyCommand: `git-upload-pack '${fx.remotePath}'`,
    log: () => {},
  });
  t.after(() => tunnel.close());
  const standbyOpen = async () => {
    const deadline = Date.now() + 5000;
    while (!tunnel.standbyWaiting || queue.active !== 1) {
      if (Date.now() > deadline) throw new Error(`expected a waiting standby channel alone, ${queue.active} open`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  await standbyOpen();
  for (const version of ['2', '0', '2']) {
    const sha = push(fx);
    const result = await runGit(fx.local, tunnel.env, ['-c', `protocol.version=${version}`, 'fetch', 'origin']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(gitEnv(fx.local, {}, 'rev-parse', 'refs/remotes/origin/main'), sha, `protocol v${version} fetched`);
    await standbyOpen(); // refilled after use
  }
  assert.deepEqual(tunnel.stats, { relayed: 3, fromStandby: 2 });
});

test('a large fetch and a push through the tunnel arrive intact', async (t) => {
  const { fx, tunnel } = await setup(t);
  // ~4 MB of incompressible data: many channel windows, backpressure on both sides.
  const { randomBytes } = await import('node:crypto');
  const { writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  writeFileSync(join(fx.pusher, 'big.bin'), randomBytes(4 * 1024 * 1024));
  gitEnv(fx.pusher, {}, 'add', 'big.bin');
  gitEnv(fx.pusher, {}, 'commit', '-q', '-m', 'big');
  const sha = gitEnv(fx.pusher, {}, 'rev-parse', 'HEAD');
  // The push goes through the tunnel too: git closes stdin before receive-pack's report arrives.
  const pushed = await runGit(fx.pusher, tunnel.env, ['push', 'origin', 'HEAD:refs/heads/main']);
  assert.equal(pushed.code, 0, pushed.stderr);
  const fetched = await runGit(fx.local, tunnel.env, ['fetch', 'origin']);
  assert.equal(fetched.code, 0, fetched.stderr);
  assert.equal(gitEnv(fx.local, {}, 'rev-parse', 'refs/remotes/origin/main'), sha);
  assert.equal(gitEnv(fx.local, {}, 'rev-parse', 'refs/remotes/origin/main:big.bin'), gitEnv(fx.pusher, {}, 'rev-parse', 'HEAD:big.bin'));
  gitEnv(fx.local, {}, 'fsck', '--no-progress');
});

test('close() ends even while a helper is still connected (half-open, silent)', async (t) => {
  const { tunnel } = await setup(t);
  const { connect } = await import('node:net');
  const { join } = await import('node:path');
  const socket = connect({ path: join(tunnel.dir, 'sock'), allowHalfOpen: true });
  t.after(() => socket.destroy());
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.end(); // half-closed from the helper's side, and no request ever sent
  const closed = await Promise.race([tunnel.close().then(() => 'closed'), new Promise((r) => setTimeout(r, 3000, 'hung'))]);
  assert.equal(closed, 'closed');
});

test('once the tunnel is closed, a fetch fails instead of opening a connection of its own', async (t) => {
  const { fx, tunnel } = await setup(t);
  const before = await fx.sshd.authenticatedCount();
  await tunnel.close();
  const result = await runGit(fx.local, tunnel.env, ['fetch', 'origin']);
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /connection to .* is closed/);
  assert.equal(await fx.sshd.authenticatedCount(), before);
});
