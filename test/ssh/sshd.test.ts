// Proves the sshd harness itself with the real OpenSSH client: login, counting, stop/start, PATH.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startSshd, type Sshd } from '../support/sshd.js';
import { eventually } from '../support/daemon.js';

const execFileAsync = promisify(execFile);

/** Runs `command` on the server through the real ssh client with the harness's options. */
async function sshRun(sshd: Sshd, command: string, extra: string[] = []): Promise<string> {
  const [ssh, ...args] = sshd.sshArgs;
  const { stdout } = await execFileAsync(ssh!, [...args, ...extra, '-p', String(sshd.port), `${sshd.user}@${sshd.host}`, command], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  return stdout;
}

test('a real ssh client logs in as the test user and runs a command', async (t) => {
  const sshd = await startSshd();
  t.after(() => sshd.dispose());
  assert.match(sshd.hostKeyFingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);
  assert.equal(await sshd.authenticatedCount(), 0);

  assert.equal(await sshRun(sshd, 'echo hello; id -un'), `hello\n${sshd.user}\n`);
  assert.equal(await sshd.authenticatedCount(), 1);
  await sshRun(sshd, 'true');
  assert.equal(await sshd.authenticatedCount(), 2);
});

test('ssh prints the same host key fingerprint the harness reports', async (t) => {
  const sshd = await startSshd({ hostKeyType: ['ecdsa', 'ed25519'] });
  t.after(() => sshd.dispose());
  const { stdout } = await execFileAsync('ssh-keygen', ['-l', '-f', sshd.knownHosts], { encoding: 'utf8' });
  for (const key of sshd.hostKeys) assert.ok(stdout.includes(key.fingerprint), `${key.fingerprint} in\n${stdout}`);
  // The client verifies against knownHosts (StrictHostKeyChecking=yes): a login proves the file is right.
  assert.equal(await sshRun(sshd, 'echo ok'), 'ok\n');
});

test('stop() refuses connections and kills live sessions; start() brings it back on the same port', async (t) => {
  const sshd = await startSshd();
  t.after(() => sshd.dispose());
  const port = sshd.port;

  // A live session that would otherwise outlive the listener.
  const [ssh, ...args] = sshd.sshArgs;
  const live = execFileAsync(ssh!, [...args, '-p', String(port), `${sshd.user}@${sshd.host}`, 'echo started; exec sleep 600'], {
    encoding: 'utf8',
  });
  const liveDone = live.then(
    () => 'exited 0',
    (err: { code?: number }) => `failed ${err.code}`,
  );
  const deadline = Date.now() + 10_000;
  while (sshd.connectionPids().length === 0 || (await sshd.authenticatedCount()) < 1) {
    assert.ok(Date.now() < deadline, 'the live session never showed up');
    await new Promise((r) => setTimeout(r, 10));
  }

  await sshd.stop();
  await sshd.stop(); // idempotent
  assert.equal(await liveDone, 'failed 255', 'the live session ended with the server');
  await assert.rejects(sshRun(sshd, 'true', ['-o', 'ConnectTimeout=5']), /Connection refused|closed|reset/);

  await sshd.start();
  assert.equal(sshd.port, port);
  assert.equal(await sshRun(sshd, 'echo back'), 'back\n');
});

test('dropConnections() ends sessions but keeps listening', async (t) => {
  const sshd = await startSshd();
  t.after(() => sshd.dispose());
  const [ssh, ...args] = sshd.sshArgs;
  const live = execFileAsync(ssh!, [...args, '-p', String(sshd.port), `${sshd.user}@${sshd.host}`, 'exec sleep 600']).then(
    () => 'exited 0',
    (err: { code?: number }) => `failed ${err.code}`,
  );
  const deadline = Date.now() + 10_000;
  while ((await sshd.authenticatedCount()) < 1) {
    assert.ok(Date.now() < deadline, 'the live session never authenticated');
    await new Promise((r) => setTimeout(r, 10));
  }
  await sshd.dropConnections();
  assert.equal(await live, 'failed 255');
  // Killed session processes linger as zombies until the listener reaps them.
  await eventually(() => sshd.connectionPids().length === 0, 'no session left', 3000);
  assert.equal(await sshRun(sshd, 'echo still'), 'still\n');
});

test('repo dirs belong to the test user, and git works over the harness', async (t) => {
  const sshd = await startSshd();
  t.after(() => sshd.dispose());
  const dir = await sshd.makeRepoDir();
  assert.ok(dir.startsWith(sshd.home + '/'));
  await sshd.runAsUser(['git', 'init', '-q', '--bare', `${dir}/r.git`]);
  const { stdout } = await sshd.runAsUser(['stat', '-c', '%U', `${dir}/r.git`]);
  assert.equal(stdout.trim(), sshd.user);
  const { stdout: lsRemote } = await execFileAsync('git', ['ls-remote', sshd.url(`${dir}/r.git`)], {
    encoding: 'utf8',
    env: { ...process.env, GIT_SSH_COMMAND: sshd.sshCommand },
  });
  assert.equal(lsRemote, '');
  // The protocol v2 environment variable is accepted by the server.
  assert.match(await sshRun(sshd, 'echo "v=$GIT_PROTOCOL"', ['-o', 'SetEnv=GIT_PROTOCOL=version=2']), /^v=version=2$/m);
});

test('serverPath and serverBin come first on the server PATH', async (t) => {
  const sshd = await startSshd({ serverBin: { gitRemoteDaemon: true, shims: { 'git-annex-shell': '#!/bin/sh\necho shim "$@"\n' } } });
  t.after(() => sshd.dispose());
  assert.equal(await sshRun(sshd, 'git-annex-shell notifychanges x'), 'shim notifychanges x\n');
  const which = (await sshRun(sshd, 'command -v git-remote-daemon')).trim();
  assert.equal(which, `${sshd.serverPath[0]}/git-remote-daemon`);
});

test('extraConfig overrides the harness defaults and may end with a Match block', async (t) => {
  const sshd = await startSshd({ extraConfig: 'LogLevel DEBUG1\nMatch User nobody\n  PermitTTY no\n' });
  t.after(() => sshd.dispose());
  assert.equal(await sshRun(sshd, 'echo hi'), 'hi\n');
  assert.match(await sshd.log(), /debug1:/);
});
