// Peer identities (workers/p2p/identity.ts) in temporary directories: key files made once and
// private, read back as the same address, refused when others could read them or when they hold
// no key, and the user's identity that a repository without a key adopts as a copy; and the p2p
// endpoint's identity (workers/p2p/plugin.ts, keyFileTag), which tells the shared daemon that two
// repositories hold the same peer key without saying anything of the key.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { isUserIdentity, keyFile, KeyFileError, keyFileTag, loadIdentity, loadUserIdentity, repositoryOrUserIdentity, userKeyFile } from '../../workers/p2p/identity.js';
import { p2pPlugin } from '../../workers/p2p/plugin.js';
import { git, tempDir } from '../support/git.js';

function dirs(t: TestContext): { gitDir: string; env: NodeJS.ProcessEnv; root: string } {
  const d = tempDir('grd-identity-');
  t.after(d.cleanup);
  const gitDir = join(d.path, 'repo.git');
  mkdirSync(gitDir);
  return { gitDir, env: { XDG_CONFIG_HOME: join(d.path, 'config') }, root: d.path };
}

const mode = (path: string) => statSync(path).mode & 0o777;

test('a repository\'s key is made on first use, private, and read back as the same address', async (t) => {
  const { gitDir } = dirs(t);
  const made = await loadIdentity(gitDir, { create: true });
  assert.equal(made.file, keyFile(gitDir));
  assert.equal(made.file, join(gitDir, 'remote-daemon', 'p2p-key'));
  assert.match(made.publicKey, /^[0-9a-f]{64}$/);
  assert.equal(made.seed.length, 32);
  assert.equal(mode(made.file), 0o600);
  assert.equal(mode(dirname(made.file)), 0o700);
  assert.match(readFileSync(made.file, 'utf8'), /^# .*keep it secret\n[0-9a-f]{64}\n$/);
  const again = await loadIdentity(gitDir, { create: false });
  assert.equal(again.publicKey, made.publicKey);
  assert.deepEqual(again.seed, made.seed);
  const other = dirs(t);
  assert.notEqual((await loadIdentity(other.gitDir, { create: true })).publicKey, made.publicKey, 'each repository its own key');
});

test('the same seed is the same address, another seed another one', async (t) => {
  const a = dirs(t);
  const b = dirs(t);
  const seed = 'ab'.repeat(32);
  for (const { gitDir } of [a, b]) {
    mkdirSync(dirname(keyFile(gitDir)), { mode: 0o700 });
    writeFileSync(keyFile(gitDir), `# a comment line\n${seed}\n`, { mode: 0o600 });
  }
  const [ka, kb] = [await loadIdentity(a.gitDir, { create: false }), await loadIdentity(b.gitDir, { create: false })];
  assert.equal(ka.publicKey, kb.publicKey);
  assert.equal(ka.seed.toString('hex'), seed);
  // The ed25519 public key of that seed, as Node's own crypto derives it (PKCS#8 wrapping of the seed).
  const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(seed, 'hex')]);
  const spki = createPublicKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })).export({ format: 'der', type: 'spki' });
  assert.equal(ka.publicKey, spki.subarray(-32).toString('hex'));
  writeFileSync(keyFile(b.gitDir), `${'cd'.repeat(32)}\n`);
  assert.notEqual((await loadIdentity(b.gitDir, { create: false })).publicKey, ka.publicKey);
});

test('a key file others can read is refused, not fixed: the key may have leaked', async (t) => {
  const { gitDir } = dirs(t);
  const { file } = await loadIdentity(gitDir, { create: true });
  for (const bits of [0o640, 0o604, 0o620]) {
    chmodSync(file, bits);
    await assert.rejects(loadIdentity(gitDir, { create: true }), (err: Error) => {
      assert.ok(err instanceof KeyFileError);
      assert.match(err.message, new RegExp(`is readable by others \\(mode ${bits.toString(8)}\\); refusing to use it\\. Run chmod 600 `));
      return true;
    });
    assert.equal(mode(file), bits, 'left as it was');
  }
});

test('no key file without create, or one that holds no key, is a KeyFileError', async (t) => {
  const { gitDir } = dirs(t);
  await assert.rejects(loadIdentity(gitDir, { create: false }), (err: Error) => err instanceof KeyFileError && /cannot read the peer key/.test(err.message));
  assert.equal(existsSync(keyFile(gitDir)), false, 'nothing made');
  mkdirSync(dirname(keyFile(gitDir)), { mode: 0o700 });
  writeFileSync(keyFile(gitDir), `${'ab'.repeat(31)}\n`, { mode: 0o600 });
  await assert.rejects(loadIdentity(gitDir, { create: true }), (err: Error) => err instanceof KeyFileError && /holds no key \(expected 64 hex digits\)/.test(err.message));
});

test('a symlink planted at the key\'s name is not followed to write a key elsewhere', async (t) => {
  const { gitDir, root } = dirs(t);
  mkdirSync(dirname(keyFile(gitDir)), { mode: 0o700 });
  const target = join(root, 'planted');
  symlinkSync(target, keyFile(gitDir));
  await assert.rejects(loadIdentity(gitDir, { create: true }));
  assert.equal(existsSync(target), false);
});

test('the user\'s key lives under XDG_CONFIG_HOME, else ~/.config', () => {
  assert.equal(userKeyFile({ XDG_CONFIG_HOME: '/x/config', HOME: '/home/u' }), '/x/config/git-remote-daemon/p2p-key');
  assert.equal(userKeyFile({ XDG_CONFIG_HOME: '', HOME: '/home/u' }), '/home/u/.config/git-remote-daemon/p2p-key');
});

test('a repository without a key adopts a copy of the user\'s; one with a key keeps its own', async (t) => {
  const { gitDir, env } = dirs(t);
  const first = await repositoryOrUserIdentity(gitDir, env);
  assert.equal(first.adopted, true);
  const user = await loadUserIdentity({ create: false, env });
  assert.equal(first.identity.publicKey, user.publicKey);
  assert.equal(first.identity.file, keyFile(gitDir), 'a file of the repository\'s own');
  assert.equal(mode(keyFile(gitDir)), 0o600);
  assert.equal(statSync(keyFile(gitDir)).ino !== statSync(user.file).ino, true, 'a copy, not a link');
  const second = await repositoryOrUserIdentity(gitDir, env);
  assert.deepEqual([second.adopted, second.identity.publicKey], [false, user.publicKey], 'now the repository\'s own');

  const other = dirs(t);
  const own = await loadIdentity(other.gitDir, { create: true });
  const kept = await repositoryOrUserIdentity(other.gitDir, other.env);
  assert.deepEqual([kept.adopted, kept.identity.publicKey], [false, own.publicKey]);
  assert.equal(existsSync(userKeyFile(other.env)), false, 'no user key made for it');
});

test('isUserIdentity: the user\'s own key only, and nothing is made to answer', async (t) => {
  const { gitDir, env } = dirs(t);
  const repo = await loadIdentity(gitDir, { create: true });
  assert.equal(await isUserIdentity(repo.publicKey, env), false);
  assert.equal(existsSync(userKeyFile(env)), false);
  const user = await loadUserIdentity({ create: true, env });
  assert.equal(await isUserIdentity(user.publicKey, env), true);
  assert.equal(await isUserIdentity(repo.publicKey, env), false);
  chmodSync(user.file, 0o644);
  assert.equal(await isUserIdentity(user.publicKey, env), false, 'an unsafe user key is no answer here');
});

function repoWithKey(root: string, name: string, seed: string | undefined): { cwd: string; gitDir: string } {
  const cwd = join(root, name);
  git(root, 'init', '-q', cwd);
  const gitDir = join(cwd, '.git');
  if (seed !== undefined) {
    mkdirSync(join(gitDir, 'remote-daemon'), { recursive: true, mode: 0o700 });
    writeFileSync(keyFile(gitDir), `# a key\n${seed}\n`, { mode: 0o600 });
  }
  return { cwd, gitDir };
}

test('two repositories holding the same peer key have the same p2p identity, which may not be shared; other keys, or none, differ', (t) => {
  const dir = tempDir();
  t.after(() => dir.cleanup());
  const same = 'ab'.repeat(32);
  const a = repoWithKey(dir.path, 'a', same);
  const b = repoWithKey(dir.path, 'b', same);
  const c = repoWithKey(dir.path, 'c', 'cd'.repeat(32));
  const none = repoWithKey(dir.path, 'none', undefined);
  const identity = (repo: { cwd: string; gitDir: string }) => p2pPlugin.endpoint!.identity!({}, repo);

  const ofA = identity(a)!;
  assert.equal(ofA.shared, false, 'a node serves one repository');
  assert.equal(identity(b)!.key, ofA.key, 'the same key: the same identity');
  assert.notEqual(identity(c)!.key, ofA.key);
  assert.equal(identity(none), undefined, 'no key yet: its node makes one of its own');
  assert.ok(!ofA.key.includes(same) && !ofA.describe.includes(same), 'nothing of the key is shown');
  assert.match(ofA.describe, /remote-daemon\/p2p-key/);

  // A key others can read is refused by the node itself, with its reason: not an identity here.
  chmodSync(keyFile(c.gitDir), 0o644);
  assert.equal(keyFileTag(c.gitDir), undefined);
});
