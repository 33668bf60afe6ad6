// The p2p endpoint's identity (workers/p2p/plugin.ts, keyFileTag in identity.ts): what tells the
// shared daemon that two repositories hold the same peer key, without saying anything of the key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { p2pPlugin } from '../../workers/p2p/plugin.js';
import { keyFile, keyFileTag } from '../../workers/p2p/identity.js';
import { git, tempDir } from '../support/git.js';

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
