// connectSsh against real OpenSSH sshd servers: keys, agent, host key checks, ProxyJump, lifetime.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { access, mkdtemp, readFile, readdir, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { connect as netConnect, createServer, type AddressInfo, type Socket } from 'node:net';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { tmpdir } from 'node:os';
import { DEFAULT_ALIVE_ANSWER, DEFAULT_ALIVE_INTERVAL } from '../../workers/ssh/config.js';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Client } from 'ssh2';
import { AuthenticationError, HostKeyError, UnsupportedSetting, connectSsh, parseJumpHost, type SshConnection } from '../../workers/ssh/connect.js';
import { fingerprintOf, generateKey, startSshd, type Sshd } from '../support/sshd.js';
import { shellQuote } from '../../shared/kit/shell.js';

const execFileAsync = promisify(execFile);
type T = { after(fn: () => unknown): void };

async function harness(t: T, opts?: Parameters<typeof startSshd>[0]): Promise<Sshd> {
  const sshd = await startSshd(opts);
  t.after(() => sshd.dispose());
  return sshd;
}

async function tempDir(t: T): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'grd-connect-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** An ssh command like the harness's, with the given -o overrides placed first (first value wins). */
function command(sshd: Sshd, ...overrides: string[]): string {
  const [ssh, ...rest] = sshd.sshArgs;
  return [ssh!, ...overrides.flatMap((o) => ['-o', o]), ...rest].map(shellQuote).join(' ');
}

function target(sshd: Sshd) {
  return { user: sshd.user, host: sshd.host, port: sshd.port };
}

async function connected(t: T, conn: Promise<SshConnection>): Promise<SshConnection> {
  const c = await conn;
  t.after(() => c.close());
  return c;
}

/** Runs a command over the connection and returns its stdout. */
function exec(client: Client, cmd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    client.exec(cmd, (err, stream) => {
      if (err) return reject(err);
      let out = '';
      stream.on('data', (d: Buffer) => (out += d));
      stream.stderr.resume();
      stream.on('close', (code: number) => (code === 0 ? resolve(out) : reject(new Error(`${cmd}: exit ${code}`))));
    });
  });
}

test('key-file auth: connects, runs a command, keepalive from ServerAlive*, closes cleanly', async (t) => {
  const sshd = await harness(t);
  const logs: string[] = [];
  const conn = await connected(t, connectSsh(target(sshd), { sshCommand: sshd.sshCommand, log: (l) => logs.push(l) }));
  assert.equal(conn.authenticatedWith, `file ${sshd.clientKey}`);
  assert.equal(await exec(conn.client, 'id -un'), `${sshd.user}\n`);
  assert.equal(await sshd.authenticatedCount(), 1);
  // No ServerAlive* in the ssh command: the keepalive is ours, the interval and answer time of config.ts.
  assert.equal(conn.settings.serverAliveInterval, DEFAULT_ALIVE_INTERVAL);
  assert.equal(conn.settings.keepaliveAnswerSeconds, DEFAULT_ALIVE_ANSWER);
  const internals = conn.client as unknown as { config: { keepaliveInterval: number } };
  assert.equal(internals.config.keepaliveInterval, 0, "ssh2's own keepalive is off: workers/ssh/keepalive.ts pings after silence only");
  assert.equal(conn.stallDetectMs, 19_000);
  assert.deepEqual(conn.warnings, []);
  await conn.close();
  assert.equal(await conn.closed, undefined, 'a close we asked for is not an error');
  await conn.close(); // idempotent
});

test('keepalive against a real sshd: none while the server sends, one per quiet interval when idle, each answered', async (t) => {
  const sshd = await harness(t);
  const conn = await connected(t, connectSsh(target(sshd), { sshCommand: `${sshd.sshCommand} -o ServerAliveInterval=1 -o ServerAliveCountMax=2` }));
  assert.equal(conn.stallDetectMs, 2000);
  const internals = conn.client as unknown as { _protocol: { ping(): void }; _callbacks: unknown[] };
  const ping = internals._protocol.ping.bind(internals._protocol);
  let pings = 0;
  internals._protocol.ping = () => {
    pings++;
    ping();
  };
  // 3 s of output, a line every 0.3 s: the server is plainly alive, no keepalive needed.
  const out = await exec(conn.client, 'i=0; while [ $i -lt 10 ]; do echo $i; sleep 0.3; i=$((i+1)); done');
  assert.equal(out.split('\n').length, 11);
  assert.equal(pings, 0, 'no keepalive while the server sends');
  // Idle: one keepalive per second of silence, each answered by sshd, so the link is never called stalled.
  const idleFrom = Date.now();
  await until(() => pings >= 3, 'three keepalives in the silence', 10_000);
  const idle = Date.now() - idleFrom;
  // On the clock grid (workers/ssh/keepalive.ts): the first after 0.4 to 1 s, the next at least half
  // a second later (to reach the grid's full points), then one a second: 1.9 s at the soonest, less
  // the 50 ms by which a timer turn that close to a ping's time counts as reaching it.
  assert.ok(idle >= 1_750, `three keepalives after ${idle} ms of silence: more than one a second`);
  await until(() => internals._callbacks.length === 0, 'sshd answered the last keepalive', 5_000);
  let over = false;
  void conn.closed.then(() => (over = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(over, false, 'answered keepalives keep the connection');
  assert.equal(internals._callbacks.length, 0, "ssh2's reply queue holds no placeholder left behind");
  await conn.close();
});

test('a connection the server drops resolves `closed` with an error', async (t) => {
  const sshd = await harness(t);
  const conn = await connected(t, connectSsh(target(sshd), { sshCommand: sshd.sshCommand }));
  await sshd.dropConnections();
  const reason = await conn.closed;
  assert.ok(reason instanceof Error, 'lost, not closed by us');
});

test('ConnectTimeout bounds the handshake; an abort gives up at once', async (t) => {
  // A server that accepts TCP and never says a word.
  const silent = createServer((socket) => socket.on('error', () => {}));
  const sockets = new Set<import('node:net').Socket>();
  silent.on('connection', (s) => (sockets.add(s), s.on('close', () => sockets.delete(s))));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise((r) => silent.close(r));
  });
  const port = (silent.address() as AddressInfo).port;
  const cmd = 'ssh -F /dev/null -o IdentityAgent=none -o UserKnownHostsFile=/dev/null';

  let started = Date.now();
  await assert.rejects(connectSsh({ host: '127.0.0.1', port }, { sshCommand: `${cmd} -o ConnectTimeout=1` }), /Timed out/);
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 900 && elapsed < 5000, `timed out after ${elapsed} ms`);

  const controller = new AbortController();
  started = Date.now();
  const pending = connectSsh({ host: '127.0.0.1', port }, { sshCommand: cmd, signal: controller.signal });
  // Abort once the TCP connection is up, i.e. mid-handshake.
  const deadline = Date.now() + 10_000;
  while (sockets.size === 0) {
    assert.ok(Date.now() < deadline, 'never connected');
    await new Promise((r) => setTimeout(r, 5));
  }
  controller.abort();
  await assert.rejects(pending, { name: 'AbortError' });
  assert.ok(Date.now() - started < 5000);

  const early = new AbortController();
  early.abort();
  await assert.rejects(connectSsh({ host: '127.0.0.1', port }, { sshCommand: cmd, signal: early.signal }), { name: 'AbortError' });
});

test('agent auth: keys from a real ssh-agent, in OpenSSH order; passphrase keys only through the agent', async (t) => {
  const sshd = await harness(t);
  const dir = await tempDir(t);
  const sock = join(dir, 'agent.sock');
  const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
  t.after(() => agent.kill());
  const deadline = Date.now() + 10_000;
  while (!(await access(sock).then(() => true, () => false))) {
    assert.ok(Date.now() < deadline, 'ssh-agent never made its socket');
    await new Promise((r) => setTimeout(r, 10));
  }
  const env = { ...process.env, SSH_AUTH_SOCK: sock };
  // A passphrase-protected copy of the authorised key, loaded into the agent.
  const locked = join(dir, 'locked');
  await execFileAsync('cp', [sshd.clientKey, locked]);
  await execFileAsync('ssh-keygen', ['-p', '-q', '-P', '', '-N', 'secret words', '-f', locked]);
  await execFileAsync('cp', [`${sshd.clientKey}.pub`, `${locked}.pub`]);

  // No agent yet: the locked key is skipped, with a warning, and nothing else works.
  const noAgent = `ssh -F /dev/null -i ${locked} -o IdentitiesOnly=yes -o IdentityAgent=none -o UserKnownHostsFile=${sshd.knownHosts}`;
  const err = await connectSsh(target(sshd), { sshCommand: noAgent, env }).then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof AuthenticationError, String(err));
  assert.ok(err.warnings.some((w) => w.includes(locked) && w.includes('passphrase')), err.message);
  assert.match(err.message, /needs a passphrase/);

  // ssh-add with the passphrase given through SSH_ASKPASS (ssh-add has no stdin option).
  const askpass = join(dir, 'askpass');
  await writeFile(askpass, "#!/bin/sh\necho 'secret words'\n", { mode: 0o700 });
  await execFileAsync('ssh-add', [locked], { env: { ...env, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' } });

  // IdentitiesOnly off, no identity file: the agent's key is offered.
  const agentOnly = `ssh -F /dev/null -o UserKnownHostsFile=${sshd.knownHosts}`;
  const conn = await connected(t, connectSsh(target(sshd), { sshCommand: agentOnly, env }));
  assert.match(conn.authenticatedWith ?? '', /^agent /);
  assert.ok(conn.authenticatedWith!.includes(fingerprintOf(sshd.clientPublicKey)));
  assert.equal(await exec(conn.client, 'echo via-agent'), 'via-agent\n');

  // IdentitiesOnly with the locked file: its key is used through the agent.
  const viaFile = await connected(t, connectSsh(target(sshd), { sshCommand: `ssh -F /dev/null -i ${locked} -o IdentitiesOnly=yes -o UserKnownHostsFile=${sshd.knownHosts}`, env }));
  assert.match(viaFile.authenticatedWith ?? '', /^agent /);
  assert.ok(!viaFile.warnings.some((w) => w.includes('passphrase')), viaFile.warnings.join('\n'));

  // IdentitiesOnly with some other file: the agent's keys are not offered.
  const other = join(dir, 'other');
  await generateKey(other);
  const onlyOther = connectSsh(target(sshd), { sshCommand: `ssh -F /dev/null -i ${other} -o IdentitiesOnly=yes -o UserKnownHostsFile=${sshd.knownHosts}`, env });
  await assert.rejects(onlyOther, AuthenticationError);
});

test('unknown host key: HostKeyError naming host and fingerprint; no login happens', async (t) => {
  const sshd = await harness(t);
  const dir = await tempDir(t);
  const empty = join(dir, 'known_hosts');
  await writeFile(empty, '');
  const err = await connectSsh(target(sshd), { sshCommand: command(sshd, `UserKnownHostsFile=${empty}`) }).then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof HostKeyError, String(err));
  assert.equal(err.reason, 'unknown');
  assert.equal(err.fingerprint, sshd.hostKeyFingerprint);
  assert.equal(err.host, `[127.0.0.1]:${sshd.port}`);
  assert.ok(err.message.includes(sshd.hostKeyFingerprint) && err.message.includes(`[127.0.0.1]:${sshd.port}`), err.message);
  assert.equal(await sshd.authenticatedCount(), 0);
  assert.equal(await readFile(empty, 'utf8'), '', 'nothing was added');
});

test('changed host key: HostKeyError with the known fingerprint; StrictHostKeyChecking=no only when set', async (t) => {
  const sshd = await harness(t);
  const dir = await tempDir(t);
  const otherKey = await generateKey(join(dir, 'other_host_key'));
  const kh = join(dir, 'known_hosts');
  await writeFile(kh, `[127.0.0.1]:${sshd.port} ${otherKey.split(' ').slice(0, 2).join(' ')}\n`);

  const err = await connectSsh(target(sshd), { sshCommand: command(sshd, `UserKnownHostsFile=${kh}`) }).then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof HostKeyError, String(err));
  assert.equal(err.reason, 'changed');
  assert.equal(err.fingerprint, sshd.hostKeyFingerprint);
  assert.deepEqual(err.knownFingerprints, [fingerprintOf(otherKey)]);
  assert.match(err.message, /CHANGED/);

  // Without the option (StrictHostKeyChecking unset = ask), the same refusal.
  const unset = `ssh -F /dev/null -i ${sshd.clientKey} -o UserKnownHostsFile=${kh}`;
  await assert.rejects(connectSsh(target(sshd), { sshCommand: unset }), HostKeyError);
  assert.equal(await sshd.authenticatedCount(), 0);

  const conn = await connected(t, connectSsh(target(sshd), { sshCommand: `${unset} -o StrictHostKeyChecking=no` }));
  assert.ok(conn.warnings.some((w) => w.includes('CHANGED') && w.includes(sshd.hostKeyFingerprint)), conn.warnings.join('\n'));
});

test('accept-new adds the unknown key (0600 file, 0700 dir) and the next strict connect succeeds', async (t) => {
  const sshd = await harness(t);
  const dir = await tempDir(t);
  const kh = join(dir, 'fresh', 'known_hosts');
  const conn = await connectSsh(target(sshd), { sshCommand: command(sshd, `UserKnownHostsFile=${kh}`, 'StrictHostKeyChecking=accept-new', 'HashKnownHosts=yes') });
  await conn.close();
  assert.equal((await stat(kh)).mode & 0o777, 0o600);
  assert.equal((await stat(join(dir, 'fresh'))).mode & 0o777, 0o700);
  const text = await readFile(kh, 'utf8');
  assert.match(text, /^\|1\|/, 'hashed as HashKnownHosts asks');
  // OpenSSH agrees the line is right.
  const { stdout } = await execFileAsync('ssh-keygen', ['-F', `[127.0.0.1]:${sshd.port}`, '-f', kh], { encoding: 'utf8' });
  assert.match(stdout, /found: line 1/);
  const again = await connected(t, connectSsh(target(sshd), { sshCommand: command(sshd, `UserKnownHostsFile=${kh}`, 'StrictHostKeyChecking=yes') }));
  assert.equal(await exec(again.client, 'echo ok'), 'ok\n');
  assert.equal((await readFile(kh, 'utf8')).split('\n').filter(Boolean).length, 1, 'not added twice');
});

test('server host key algorithms are narrowed to the key types known for the host', async (t) => {
  // The server has ed25519 and ecdsa keys; known_hosts has only the ecdsa one. ssh2 prefers
  // ed25519, so without narrowing the server would present a key we cannot verify.
  const sshd = await harness(t, { hostKeyType: ['ed25519', 'ecdsa'] });
  const dir = await tempDir(t);
  const kh = join(dir, 'known_hosts');
  const ecdsa = sshd.hostKeys.find((k) => k.type === 'ecdsa')!;
  await writeFile(kh, `[127.0.0.1]:${sshd.port} ${ecdsa.publicKey.split(' ').slice(0, 2).join(' ')}\n`);
  const conn = await connected(t, connectSsh(target(sshd), { sshCommand: command(sshd, `UserKnownHostsFile=${kh}`) }));
  assert.equal(await exec(conn.client, 'echo narrowed'), 'narrowed\n');
});

test('ProxyCommand is refused with UnsupportedSetting naming it; certificates give a warning', async (t) => {
  const sshd = await harness(t);
  const err = await connectSsh(target(sshd), { sshCommand: command(sshd, 'ProxyCommand=nc %h %p') }).then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof UnsupportedSetting, String(err));
  assert.deepEqual(err.settings, ['proxycommand nc %h %p']);
  assert.match(err.message, /proxycommand/);
  assert.equal(await sshd.authenticatedCount(), 0);

  const conn = await connected(t, connectSsh(target(sshd), { sshCommand: command(sshd, `CertificateFile=${sshd.dir}/nope-cert.pub`) }));
  assert.ok(conn.warnings.some((w) => /certificatefile/.test(w)), conn.warnings.join('\n'));
});

test('parseJumpHost: ProxyJump host forms', () => {
  assert.deepEqual(parseJumpHost('host'), { host: 'host' });
  assert.deepEqual(parseJumpHost('u@host:2222'), { host: 'host', user: 'u', port: 2222 });
  assert.deepEqual(parseJumpHost('ssh://u@host:22'), { host: 'host', user: 'u', port: 22 });
  assert.deepEqual(parseJumpHost('[::1]:2200'), { host: '::1', port: 2200 });
});

test('ProxyJump: the target sshd sees the connection come from the jump sshd', async (t) => {
  const [jumpHost, targetHost] = await Promise.all([harness(t), harness(t)]);
  const dir = await tempDir(t);
  const cfg = join(dir, 'config');
  await writeFile(
    cfg,
    [
      'Host target',
      '  HostName 127.0.0.1',
      `  Port ${targetHost.port}`,
      `  ProxyJump ${jumpHost.user}@127.0.0.1:${jumpHost.port}`,
      'Host *',
      `  User ${targetHost.user}`,
      `  IdentityFile ${targetHost.clientKey}`,
      `  IdentityFile ${jumpHost.clientKey}`,
      '  IdentitiesOnly yes',
      '  IdentityAgent none',
      `  UserKnownHostsFile ${targetHost.knownHosts} ${jumpHost.knownHosts}`,
      '  StrictHostKeyChecking yes',
      '',
    ].join('\n'),
  );
  const logs: string[] = [];
  const conn = await connected(t, connectSsh({ host: 'target' }, { sshCommand: `ssh -F ${cfg}`, log: (l) => logs.push(l) }));
  assert.equal(await exec(conn.client, 'echo through'), 'through\n');
  assert.equal(await jumpHost.authenticatedCount(), 1);
  assert.equal(await targetHost.authenticatedCount(), 1);

  // The target logged the client's source port; that socket belongs to the jump sshd's session.
  const accepted = /Accepted publickey for \S+ from 127\.0\.0\.1 port (\d+)/.exec(await targetHost.log());
  assert.ok(accepted, 'target logged the login');
  const owners = await socketOwners(Number(accepted[1]), targetHost.port);
  const jumpSessions = descendants(jumpHost.connectionPids());
  assert.ok(owners.length > 0 && owners.every((pid) => jumpSessions.includes(pid)), `socket owners ${owners} within jump sshd sessions ${jumpSessions}`);

  // Closing the target connection closes the jump connection too.
  await conn.close();
  const deadline = Date.now() + 10_000;
  while (jumpHost.connectionPids().length > 0) {
    assert.ok(Date.now() < deadline, 'jump connection still open');
    await new Promise((r) => setTimeout(r, 10));
  }
});

test('ProxyJump: abort and ConnectTimeout give up promptly at every stage, closing what was opened', async (t) => {
  const jumpHost = await harness(t);
  const dir = await tempDir(t);
  const silent = await silentServer(t);
  const blackhole = await blackholeServer(t);
  const cfg = join(dir, 'config');
  const jumpSpec = `${jumpHost.user}@127.0.0.1:${jumpHost.port}`;
  await writeFile(
    cfg,
    [
      // Reached through the jump host: the jump's connect to it never completes.
      'Host blackhole',
      '  HostName 127.0.0.1',
      `  Port ${blackhole.port}`,
      `  ProxyJump ${jumpSpec}`,
      // Reached through the jump host: accepts TCP, never says a word.
      'Host mute',
      '  HostName 127.0.0.1',
      `  Port ${silent.port}`,
      `  ProxyJump ${jumpSpec}`,
      // A jump host that accepts TCP and never says a word.
      'Host behind-mute',
      '  HostName 127.0.0.1',
      '  Port 9',
      `  ProxyJump 127.0.0.1:${silent.port}`,
      'Host *',
      `  User ${jumpHost.user}`,
      `  IdentityFile ${jumpHost.clientKey}`,
      '  IdentitiesOnly yes',
      '  IdentityAgent none',
      `  UserKnownHostsFile ${jumpHost.knownHosts}`,
      '  StrictHostKeyChecking yes',
      '',
    ].join('\n'),
  );
  const ssh = `ssh -F ${shellQuote(cfg)}`;
  const jumpSessionsGone = async () => {
    await until(() => jumpHost.connectionPids().length === 0, 'the jump connection is closed');
    await until(async () => !(await tcpStates(blackhole.port)).includes(SYN_SENT), "the jump host's connect to the target is dropped");
  };

  // Stage: the jump host's forwarding to a target that never answers the SYN.
  await t.test('abort while the jump host forwards', async () => {
    const controller = new AbortController();
    const pending = connectSsh({ host: 'blackhole' }, { sshCommand: ssh, signal: controller.signal });
    // Abort once the jump sshd is connecting to the target (its SYN is unanswered).
    await until(async () => (await tcpStates(blackhole.port)).includes(SYN_SENT), 'the jump host connects to the target', 20_000);
    const aborted = Date.now();
    controller.abort();
    await assertSettles(pending, { name: 'AbortError' }, 2000, () => Date.now() - aborted);
    await jumpSessionsGone();
  });
  await t.test('ConnectTimeout while the jump host forwards', async () => {
    const started = Date.now();
    await assertSettles(connectSsh({ host: 'blackhole' }, { sshCommand: `${ssh} -o ConnectTimeout=1` }), /Timed out/, 2500, () => Date.now() - started);
    assert.ok(Date.now() - started >= 900, 'not before the timeout');
    await jumpSessionsGone();
  });

  // Stage: the target's handshake, through the jump host.
  await t.test('abort and ConnectTimeout during the handshake through the jump host', async () => {
    const controller = new AbortController();
    const pending = connectSsh({ host: 'mute' }, { sshCommand: ssh, signal: controller.signal });
    const reached = await within(silent.nextConnection, 'the connect reaches the silent server');
    const reachedClosed = once(reached, 'close');
    // The client's version line: the forwarding is done, the handshake under way.
    await within(once(reached, 'data'), 'the handshake starts');
    const aborted = Date.now();
    controller.abort();
    await assertSettles(pending, { name: 'AbortError' }, 2000, () => Date.now() - aborted);
    await within(reachedClosed, 'the silent server sees the connection close');
    await jumpSessionsGone();

    const started = Date.now();
    await assertSettles(connectSsh({ host: 'mute' }, { sshCommand: `${ssh} -o ConnectTimeout=1` }), /Timed out/, 2500, () => Date.now() - started);
    await jumpSessionsGone();
  });

  // Stage: the jump host's own connect. The target's ConnectTimeout bounds it (as in OpenSSH, which
  // waits ConnectTimeout for the target's banner through the jump).
  await t.test('abort and ConnectTimeout while connecting to the jump host', async () => {
    const controller = new AbortController();
    const pending = connectSsh({ host: 'behind-mute' }, { sshCommand: ssh, signal: controller.signal });
    const reached = await within(silent.nextConnection, 'the connect reaches the silent server');
    const reachedClosed = once(reached, 'close');
    const aborted = Date.now();
    controller.abort();
    await assertSettles(pending, { name: 'AbortError' }, 2000, () => Date.now() - aborted);
    await within(reachedClosed, 'the silent server sees the connection close');

    const started = Date.now();
    const timedOut = connectSsh({ host: 'behind-mute' }, { sshCommand: `${ssh} -o ConnectTimeout=1` });
    const reachedAgain = await within(silent.nextConnection, 'the connect reaches the silent server');
    const reachedAgainClosed = once(reachedAgain, 'close');
    await assertSettles(timedOut, /Timed out/, 2500, () => Date.now() - started);
    await within(reachedAgainClosed, 'the silent server sees the connection close');
  });
});

/** Waits for `pending` to reject matching `expected` within `withinMs` (as measured by `elapsed`). */
async function assertSettles(pending: Promise<unknown>, expected: RegExp | object, withinMs: number, elapsed: () => number): Promise<void> {
  // Bounded so that a connect that hangs fails here, not at the test runner's timeout.
  await assert.rejects(within(pending, 'the connect gives up', withinMs * 5), expected);
  assert.ok(elapsed() < withinMs, `gave up after ${elapsed()} ms`);
}

/** `promise`, or a rejection naming `what` when it has not settled after `ms`. */
async function within<V>(promise: Promise<V>, what: string, ms = 10_000): Promise<V> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`still waiting after ${ms} ms until ${what}`)), ms)));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls a condition on state no event reports (other processes, the kernel's socket table). */
async function until(condition: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    assert.ok(Date.now() < deadline, `timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A TCP server that accepts connections, reads and never writes; `nextConnection` is the next one accepted. */
async function silentServer(t: T): Promise<{ port: number; readonly nextConnection: Promise<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    // Reading lets the peer's FIN through as 'end', then 'close'.
    s.resume();
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise((r) => server.close(r));
  });
  return {
    port: (server.address() as AddressInfo).port,
    get nextConnection() {
      return once(server, 'connection').then(([s]) => s as Socket);
    },
  };
}

const SYN_SENT = '02';

/** States (hex, as /proc/net/tcp writes them) of loopback TCP sockets connecting to `port`. */
async function tcpStates(port: number): Promise<string[]> {
  const remote = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return (await readFile('/proc/net/tcp', 'utf8'))
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f[2] === remote)
    .map((f) => f[3]!);
}

/**
 * A loopback port whose SYNs go unanswered, as from a blackholed host: a listener that never accepts
 * (it lives in a worker thread whose event loop is blocked), with its accept queue filled. Linux
 * drops a SYN when the queue holds more than `backlog` connections, so backlog 1 fills with two.
 */
async function blackholeServer(t: T): Promise<{ port: number }> {
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(
    `const { workerData: stop, parentPort } = require('node:worker_threads');
     const server = require('node:net').createServer();
     server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
       parentPort.postMessage(server.address().port);
       Atomics.wait(stop, 0, 0);
       server.close();
     });`,
    { eval: true, workerData: stop },
  );
  const fillers: Socket[] = [];
  t.after(async () => {
    for (const s of fillers) s.destroy();
    Atomics.store(stop, 0, 1);
    Atomics.notify(stop, 0);
    await once(worker, 'exit');
  });
  const [port] = (await once(worker, 'message')) as [number];
  for (let i = 0; i < 2; i++) {
    const s = netConnect(port, '127.0.0.1');
    s.on('error', () => {});
    fillers.push(s);
    await once(s, 'connect');
  }
  return { port };
}

/** PIDs holding the TCP socket 127.0.0.1:localPort -> 127.0.0.1:remotePort. */
async function socketOwners(localPort: number, remotePort: number): Promise<number[]> {
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(4, '0');
  const table = await readFile('/proc/net/tcp', 'utf8');
  const row = table.split('\n').find((l) => {
    const f = l.trim().split(/\s+/);
    return f[1] === `0100007F:${hex(localPort)}` && f[2] === `0100007F:${hex(remotePort)}`;
  });
  if (!row) return [];
  const inode = row.trim().split(/\s+/)[9];
  const owners: number[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      if ((await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')) === `socket:[${inode}]`) {
        owners.push(Number(pid));
        break;
      }
    }
  }
  return owners;
}

/** The given pids and all their descendants. */
function descendants(roots: number[]): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone
    }
  }
  const out = new Set(roots);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, ppid] of parent) if (out.has(ppid) && !out.has(pid)) (out.add(pid), (grew = true));
  }
  return [...out];
}
