// `git clone p2p://<address>` through the real git-remote-p2p, against a real serving daemon on a
// loopback DHT: the clone connects as the user (the per-user identity under $XDG_CONFIG_HOME),
// keeps that key, and its daemon is let in by the same allow entry, with no pairing. Each user is
// a HOME and an XDG_CONFIG_HOME of its own in the test's directory: nothing of the real user's is
// read or written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { commit, git, refValue } from '../support/git.js';
import { startDaemon } from '../support/daemon.js';
import { fingerprint, keyOf } from '../../workers/p2p/address.js';
import { DAEMON, gitRun, logged, makePeers, type Peers } from './support.js';

/** A user of its own: HOME and XDG_CONFIG_HOME under the test's directory. */
function user(p: Peers, name: string): { env: NodeJS.ProcessEnv; config: string } {
  const home = join(p.root, `home-${name}`);
  const config = join(home, 'xdg-config');
  mkdirSync(home, { recursive: true });
  return { env: { ...p.env, HOME: home, XDG_CONFIG_HOME: config }, config };
}

function daemonCli(cwd: string, env: NodeJS.ProcessEnv, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [DAEMON, ...args], { cwd, env, encoding: 'utf8' }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** The clone's peer settings, given on the command line as a user gives theirs in ~/.gitconfig. */
function cloneArgs(p: Peers): string[] {
  return ['-c', `remotedaemon.p2p.bootstrap=${p.bootstrap}`, '-c', 'remotedaemon.p2p.host=127.0.0.1', '-c', 'remotedaemon.p2p.reachable=true'];
}

test('git clone p2p:// as a user the peer allows; the clone keeps that identity, and its daemon gets the next commit with no pairing', async (t) => {
  const p = await makePeers(t);
  const a = p.make('a', { seed: true });
  const me = user(p, 'me');

  // The user's identity, made on first need (outside any repository), private.
  const shown = await daemonCli(p.root, me.env, 'p2p', 'address', '--user');
  assert.equal(shown.code, 0, shown.stderr);
  const myAddress = shown.stdout.trim();
  const myKey = keyOf(myAddress);
  assert.ok(myKey, shown.stdout);
  assert.match(shown.stderr, new RegExp(`git config --add remotedaemon\\.p2p\\.allow ${myAddress}`));
  const userKey = join(me.config, 'git-remote-daemon', 'p2p-key');
  assert.equal(statSync(userKey).mode & 0o777, 0o600);
  assert.equal(statSync(join(me.config, 'git-remote-daemon')).mode & 0o777, 0o700);
  // Asked again, the same identity: it is made once.
  assert.equal((await daemonCli(p.root, me.env, 'p2p', 'address', '--user')).stdout.trim(), myAddress);

  // The serving side allows that address, as the hint says, and runs its daemon.
  git(a, 'config', '--add', 'remotedaemon.p2p.allow', myAddress);
  const da = startDaemon(a, ['--foreground', '--verbose'], p.env);
  t.after(() => da.stop());
  await logged(da, /peer node up/);

  const clone = join(p.root, 'clone');
  const cloned = await gitRun(p.root, me.env, 'clone', ...cloneArgs(p), `${p.address('a')}/`, clone);
  assert.equal(cloned.code, 0, cloned.stderr);
  assert.equal(refValue(clone, 'HEAD'), refValue(a, 'refs/heads/main'));
  assert.equal(git(clone, 'symbolic-ref', 'HEAD'), 'refs/heads/main');
  assert.equal(git(clone, 'config', 'remote.origin.url'), `${p.address('a')}/`);

  // The clone kept the user's key as its own: a private copy, the same public key.
  const cloneKey = join(clone, '.git', 'remote-daemon', 'p2p-key');
  assert.equal(statSync(cloneKey).mode & 0o777, 0o600);
  assert.match(readFileSync(cloneKey, 'utf8'), new RegExp(readFileSync(userKey, 'utf8').split('\n')[1]));
  const inClone = await daemonCli(clone, me.env, 'p2p', 'address');
  assert.equal(inClone.stdout.trim(), myAddress);
  assert.match(inClone.stderr, /this repository uses your user identity .*: it dials its peers, none dials it/);

  // Its daemon connects with no pairing, and the next commit on A arrives as any change does.
  const dc = startDaemon(clone, ['--foreground', '--verbose'], me.env);
  t.after(() => dc.stop());
  await dc.waitFor('CONNECTED origin', { timeoutMs: 30_000 });
  await logged(dc, /peer node up .*your user identity/);
  const from = dc.lines.length;
  const sha = commit(a, 'second in a');
  const committed = Date.now();
  await dc.waitFor('DONESYNCING origin 1', { from, timeoutMs: 10_000 });
  assert.equal(refValue(clone, 'refs/remotes/origin/main'), sha);
  // Offered over the link the clone holds, not polled (see test/p2p/daemon.test.ts); slack for load.
  const took = Date.now() - committed;
  assert.ok(took < 2000, `fetched ${took} ms after the commit`);
  assert.ok(da.stderr.some((l) => l.includes(`accepted a connection from ${fingerprint(myKey)}`)), da.stderr.join('\n'));
});

test('a user the peer does not allow cannot clone, and is told in one line what to run on the other side', async (t) => {
  const p = await makePeers(t);
  const a = p.make('a', { seed: true });
  const allowed = user(p, 'allowed');
  const stranger = user(p, 'stranger');
  const allowedAddress = (await daemonCli(p.root, allowed.env, 'p2p', 'address', '--user')).stdout.trim();
  git(a, 'config', '--add', 'remotedaemon.p2p.allow', allowedAddress);
  const da = startDaemon(a, ['--foreground', '--verbose'], p.env);
  t.after(() => da.stop());
  await logged(da, /peer node up/);

  const clone = join(p.root, 'clone');
  const cloned = await gitRun(p.root, stranger.env, 'clone', ...cloneArgs(p), p.address('a'), clone);
  assert.notEqual(cloned.code, 0);
  const strangerAddress = (await daemonCli(p.root, stranger.env, 'p2p', 'address', '--user')).stdout.trim();
  assert.notEqual(strangerAddress, allowedAddress);
  const ours = cloned.stderr.split('\n').filter((l) => l.startsWith('git-remote-p2p:'));
  assert.equal(ours.length, 1, cloned.stderr);
  assert.match(ours[0], new RegExp(`cannot reach peer .*; if it does not allow you, run there: git config --add remotedaemon\\.p2p\\.allow ${strangerAddress}$`));
  assert.equal(existsSync(clone), false, 'git removes the clone it could not fill');
  // Refused at the handshake, by key: nothing was served to it.
  await logged(da, new RegExp(`refused a connection from an unknown key \\(fingerprint ${fingerprint(keyOf(strangerAddress)!)}\\)`));
  assert.equal(da.stderr.some((l) => /serving git-upload-pack/.test(l)), false, da.stderr.join('\n'));
});
