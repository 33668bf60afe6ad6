// The daemon end to end over ssh: the real binary in the foreground, a real OpenSSH sshd, real git.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { makeSshFixture, push, gitEnv, type SshFixture } from './fixture.js';
import { startDaemon, eventually, type RunningDaemon } from '../support/daemon.js';
import { commandsIn, processesIn } from '../support/procs.js';
import { git, refValue } from '../support/git.js';
import type { StartSshdOptions } from '../support/sshd.js';

type T = { after(fn: () => unknown): void };

async function setup(t: T, opts: StartSshdOptions = { serverBin: { gitRemoteDaemon: true } }, sshCommand?: (fx: SshFixture) => string) {
  const fx = await makeSshFixture(opts);
  git(fx.local, 'config', 'core.sshCommand', sshCommand ? sshCommand(fx) : fx.sshd.sshCommand);
  t.after(() => fx.cleanup());
  return fx;
}

function daemonIn(t: T, fx: SshFixture): RunningDaemon {
  const d = startDaemon(fx.local);
  t.after(() => d.stop());
  return d;
}

/** Server-side processes of the test user whose command line mentions `what` and this fixture's repository. */
function serverProcesses(fx: SshFixture, what: string): number {
  try {
    return execFileSync('pgrep', ['-u', 'grd-test', '-f', `${what}.*${fx.remotePath}`], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).length;
  } catch (err) {
    if ((err as { status?: number }).status === 1) return 0; // pgrep: nothing matched
    throw err;
  }
}

test('over ssh: a push is fetched through the held connection, and STOP leaves nothing on either side', async (t) => {
  const fx = await setup(t);
  const d = daemonIn(t, fx);
  await d.waitFor('CONNECTED origin', { timeoutMs: 20_000 });
  const logins = await fx.sshd.authenticatedCount();
  const sha = push(fx); // the pusher's own connection is one more login
  await d.waitFor('DONESYNCING origin 1');
  assert.equal(refValue(fx.local, 'refs/remotes/origin/main'), sha);
  assert.equal(await fx.sshd.authenticatedCount(), logins + 1, 'the fetch opened no connection of its own');
  d.send('STOP');
  const { code } = await d.exited;
  assert.equal(code, 0);
  await eventually(() => processesIn(fx.local).length === 0, 'nothing left here', 2000);
  await eventually(() => serverProcesses(fx, 'notifychanges') === 0, 'no notifier left on the server', 2000);
});

test('over ssh: sshd stopped and started -> DISCONNECTED, CONNECTED, and a catch-up of what changed meanwhile', async (t) => {
  const fx = await setup(t);
  const d = daemonIn(t, fx);
  await d.waitFor('CONNECTED origin', { timeoutMs: 20_000 });
  await fx.sshd.stop();
  await d.waitFor('DISCONNECTED origin');
  // Changed on the server while the daemon could not see it.
  const tree = (await fx.sshd.runAsUser(['git', '-C', fx.remotePath, 'rev-parse', 'main^{tree}'])).stdout.trim();
  const parent = (await fx.sshd.runAsUser(['git', '-C', fx.remotePath, 'rev-parse', 'main'])).stdout.trim();
  const sha = (await fx.sshd.runAsUser(['git', '-C', fx.remotePath, 'commit-tree', '-p', parent, '-m', 'while away', tree], { env: { GIT_AUTHOR_NAME: 'A', GIT_AUTHOR_EMAIL: 'a@b', GIT_COMMITTER_NAME: 'A', GIT_COMMITTER_EMAIL: 'a@b' } })).stdout.trim();
  await fx.sshd.runAsUser(['git', '-C', fx.remotePath, 'update-ref', 'refs/heads/main', sha]);
  await fx.sshd.start();
  await d.waitForCount('CONNECTED origin', 2, 30_000);
  await eventually(() => refValue(fx.local, 'refs/remotes/origin/main') === sha, 'caught up after reconnecting');
  const warnings = d.lines.filter((l) => l.startsWith('WARNING origin'));
  assert.ok(warnings.length <= 3, `a down host costs one warning per change of state: ${warnings.join(' | ')}`);
});

test('over ssh: LOSTNET drops the connection and makes no attempt until RESUME, which catches up', async (t) => {
  const fx = await setup(t);
  const d = daemonIn(t, fx);
  await d.waitFor('CONNECTED origin', { timeoutMs: 20_000 });
  d.send('LOSTNET');
  await d.waitFor('DISCONNECTED origin');
  await eventually(() => serverProcesses(fx, 'notifychanges') === 0, 'the notifier is gone from the server', 5000);
  const logins = await fx.sshd.authenticatedCount();
  const sha = push(fx); // one login of the pusher's own
  d.send('MARKER');
  await d.waitFor(/unknown message "MARKER"/);
  assert.equal(await fx.sshd.authenticatedCount(), logins + 1, 'no attempt to connect while the network is gone');
  d.send('RESUME');
  await d.waitFor('DONESYNCING origin 1', { timeoutMs: 20_000 });
  assert.equal(refValue(fx.local, 'refs/remotes/origin/main'), sha);
});

test('over ssh: a dropped session is noticed and reconnected', async (t) => {
  const fx = await setup(t);
  const d = daemonIn(t, fx);
  await d.waitFor('CONNECTED origin', { timeoutMs: 20_000 });
  await fx.sshd.dropConnections();
  await d.waitFor('DISCONNECTED origin');
  d.send('RESUME'); // reconnect at once rather than after the backoff
  await d.waitForCount('CONNECTED origin', 2, 20_000);
  const sha = push(fx);
  await eventually(() => refValue(fx.local, 'refs/remotes/origin/main') === sha, 'syncing again');
});

test('over ssh: an unknown host key is refused with its fingerprint and not retried until RESUME', async (t) => {
  const empty = join('/tmp', `grd-empty-known-${process.pid}-${Date.now()}`);
  writeFileSync(empty, '');
  t.after(() => execFileSync('rm', ['-f', empty]));
  const fx = await setup(t, { serverBin: { gitRemoteDaemon: true } }, (fx) => `ssh -F /dev/null -i ${fx.sshd.clientKey} -o IdentitiesOnly=yes -o UserKnownHostsFile=${empty} -o GlobalKnownHostsFile=/dev/null`);
  const logins = await fx.sshd.authenticatedCount(); // the fixture's own clone and push
  const attemptsBefore = (await fx.sshd.log()).split('\n').filter((l) => /Connection from 127\.0\.0\.1/.test(l)).length;
  const d = daemonIn(t, fx);
  const warning = await d.waitFor(/^WARNING origin /, { timeoutMs: 20_000 });
  assert.ok(warning.includes(fx.sshd.hostKeyFingerprint), warning);
  assert.match(warning, /not retrying until RESUME or RELOAD/);
  assert.equal(await fx.sshd.authenticatedCount(), logins, 'never authenticated to an unknown host');
  d.send('RESUME');
  await d.waitForCount(/^WARNING origin /, 2, 20_000);
  assert.equal(d.lines.filter((l) => l === 'CONNECTED origin').length, 0);
  const attempts = (await fx.sshd.log()).split('\n').filter((l) => /Connection from 127\.0\.0\.1/.test(l)).length;
  assert.equal(attempts - attemptsBefore, 2, 'one attempt at start, one for RESUME');
});

test('over ssh: RELOAD after the host key was added to known_hosts connects (no RESUME needed)', async (t) => {
  const known = join('/tmp', `grd-later-known-${process.pid}-${Date.now()}`);
  writeFileSync(known, '');
  t.after(() => execFileSync('rm', ['-f', known]));
  const fx = await setup(t, { serverBin: { gitRemoteDaemon: true } }, (fx) => `ssh -F /dev/null -i ${fx.sshd.clientKey} -o IdentitiesOnly=yes -o UserKnownHostsFile=${known} -o GlobalKnownHostsFile=/dev/null`);
  const d = daemonIn(t, fx);
  await d.waitFor(/^WARNING origin .*not retrying until RESUME or RELOAD/, { timeoutMs: 20_000 });
  writeFileSync(known, readFileSync(fx.sshd.knownHosts));
  d.send('RELOAD');
  await d.waitFor('CONNECTED origin', { timeoutMs: 20_000 });
});

test('over ssh: a changed host key is refused', async (t) => {
  const forged = join('/tmp', `grd-forged-known-${process.pid}-${Date.now()}`);
  t.after(() => execFileSync('rm', ['-f', forged, `${forged}.key`, `${forged}.key.pub`]));
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', `${forged}.key`]);
  const fx = await setup(t, { serverBin: { gitRemoteDaemon: true } }, (fx) => {
    const pub = execFileSync('cat', [`${forged}.key.pub`], { encoding: 'utf8' }).split(' ').slice(0, 2).join(' ');
    writeFileSync(forged, `[127.0.0.1]:${fx.sshd.port} ${pub}\n`);
    return `ssh -F /dev/null -i ${fx.sshd.clientKey} -o IdentitiesOnly=yes -o UserKnownHostsFile=${forged} -o GlobalKnownHostsFile=/dev/null`;
  });
  const logins = await fx.sshd.authenticatedCount();
  const d = daemonIn(t, fx);
  const warning = await d.waitFor(/^WARNING origin /, { timeoutMs: 20_000 });
  assert.ok(warning.includes(fx.sshd.hostKeyFingerprint), warning);
  assert.match(warning, /changed/i);
  assert.equal(await fx.sshd.authenticatedCount(), logins, 'never authenticated to a host with a changed key');
  assert.equal(d.lines.filter((l) => l === 'CONNECTED origin').length, 0);
});

test('over ssh: a remote without a notifier gets one WARNING, then is polled', async (t) => {
  // The server has git-remote-daemon on its PATH, as any machine where it is installed globally
  // (`npm install -g` puts it in /usr/bin here): the remote's notifier is one that surely does not
  // exist, so the test does not depend on what the server has.
  const fx = await setup(t);
  git(fx.local, 'config', 'remote.origin.remotedaemon-notifier', 'grd-no-such-notifier notifychanges');
  git(fx.local, 'config', 'remotedaemon.pollInterval', '1');
  const d = daemonIn(t, fx);
  await d.waitFor('CONNECTED origin', { timeoutMs: 20_000 });
  const warning = await d.waitFor(/^WARNING origin /);
  assert.match(warning, /notif/i);
  const sha = push(fx);
  await eventually(() => refValue(fx.local, 'refs/remotes/origin/main') === sha, 'a poll noticed the push', 15_000);
  assert.equal(d.lines.filter((l) => l.startsWith('WARNING origin')).length, 1);
  assert.equal(d.lines.filter((l) => l === 'DISCONNECTED origin').length, 0, 'no reconnect loop');
});

test('over ssh: git-annex-shell notifychanges as the notifier', async (t) => {
  const fx = await setup(t);
  await fx.sshd.runAsUser(['git', '-C', fx.remotePath, 'annex', 'init', '-q', 'server'], { env: { HOME: fx.sshd.home } });
  git(fx.local, 'config', 'remote.origin.remotedaemon-notifier', 'git-annex-shell notifychanges');
  const d = daemonIn(t, fx);
  await d.waitFor('CONNECTED origin', { timeoutMs: 20_000 });
  const sha = push(fx);
  await eventually(() => refValue(fx.local, 'refs/remotes/origin/main') === sha, 'fetched on git-annex-shell notice');
  d.send('STOP');
  await d.exited;
  await eventually(() => serverProcesses(fx, 'git-annex-shell') === 0, 'no git-annex-shell left on the server', 3000);
});

test('over ssh: the server session killed mid-fetch -> DONESYNCING 0, then recovery with a catch-up', async (t) => {
  const fx = await setup(t);
  const d = daemonIn(t, fx);
  await d.waitFor('CONNECTED origin', { timeoutMs: 20_000 });
  // A commit big enough (incompressible) that the server spends a good while packing it, so the
  // session can be cut while the fetch is under way.
  const env = { GIT_AUTHOR_NAME: 'A', GIT_AUTHOR_EMAIL: 'a@b', GIT_COMMITTER_NAME: 'A', GIT_COMMITTER_EMAIL: 'a@b' };
  const script = [
    'set -e',
    `cd ${fx.remotePath}`,
    'blob=$(head -c 60000000 /dev/urandom | git hash-object -w --stdin)',
    'tree=$(printf "100644 blob %s\\tbig.bin\\n" "$blob" | git mktree)',
    'git commit-tree -p main -m big "$tree"',
  ].join('\n');
  const sha = (await fx.sshd.runAsUser(['sh', '-c', script], { env, timeoutMs: 60_000 })).stdout.trim();
  const from = d.lines.length;
  await fx.sshd.runAsUser(['git', '-C', fx.remotePath, 'update-ref', 'refs/heads/main', sha]);
  await d.waitFor('SYNCING origin', { from });
  // Cut only once the server is packing for this fetch: cut earlier, and the fetch would rightly
  // fall back to a fresh ssh connection and succeed.
  await eventually(() => commandsIn(fx.remotePath, 'pack-objects').length > 0, 'the server is packing for the fetch', 20_000);
  await fx.sshd.dropConnections();
  await d.waitFor('DONESYNCING origin 0', { from, timeoutMs: 20_000 });
  await d.waitFor('DISCONNECTED origin', { from });
  assert.notEqual(refValue(fx.local, 'refs/remotes/origin/main'), sha);
  d.send('RESUME');
  await d.waitFor('CONNECTED origin', { from });
  await d.waitFor('DONESYNCING origin 1', { from, timeoutMs: 30_000 });
  assert.equal(refValue(fx.local, 'refs/remotes/origin/main'), sha);
});

test('over ssh: a new branch at a commit we already have is fetched too', async (t) => {
  const fx = await setup(t);
  const d = daemonIn(t, fx);
  await d.waitFor('CONNECTED origin', { timeoutMs: 20_000 });
  const sha = push(fx);
  await eventually(() => refValue(fx.local, 'refs/remotes/origin/main') === sha, 'main fetched');
  // The notifier says only "CHANGED <sha>", a sha we have and that is already a tracking tip.
  gitEnv(fx.pusher, fx.sshEnv, 'push', '-q', 'origin', 'HEAD:refs/heads/same-commit');
  await eventually(() => refValue(fx.local, 'refs/remotes/origin/same-commit') === sha, 'the new branch is fetched');
});
