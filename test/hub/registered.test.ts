// src/hub/registered.ts: the registered set as read from git's config, and register/unregister/list
// against a global config of the test's own (GIT_CONFIG_GLOBAL), through real git, no daemon.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { normaliseRegistered, parseValues, readRegistered, register, repositoryPath, unregister } from '../../src/hub/registered.js';
import { git, gitWithEnv, tempDir } from '../support/git.js';

test('the registered set: trimmed, absolute only, normalised, each once in the order registered', () => {
  assert.deepEqual(normaliseRegistered(['/a/b', ' /c/ ', '/a/b/', '/a/./x/../b', 'rel/path', '', '/d']), {
    paths: ['/a/b', '/c', '/d'],
    ignored: ['rel/path'],
  });
  assert.deepEqual(normaliseRegistered([]), { paths: [], ignored: [] });
  assert.deepEqual(parseValues('/a\0/b with space\0'), ['/a', '/b with space']);
  assert.deepEqual(parseValues('/a\nnewline\0'), ['/a\nnewline']);
  assert.deepEqual(parseValues(''), []);
});

test('register / unregister / list through git config --global: top-level paths, idempotent, GIT_CONFIG_GLOBAL respected', async (t) => {
  const dir = tempDir();
  const saved = process.env.GIT_CONFIG_GLOBAL;
  const global = join(dir.path, 'global-config');
  process.env.GIT_CONFIG_GLOBAL = global;
  t.after(() => {
    if (saved === undefined) delete process.env.GIT_CONFIG_GLOBAL;
    else process.env.GIT_CONFIG_GLOBAL = saved;
    dir.cleanup();
  });
  const repo = join(dir.path, 'repo');
  git(dir.path, 'init', '-q', repo);
  mkdirSync(join(repo, 'sub'));
  const bare = join(dir.path, 'bare.git');
  git(dir.path, 'init', '-q', '--bare', bare);
  const link = join(dir.path, 'link');
  symlinkSync(repo, link);

  assert.deepEqual(await readRegistered(), { paths: [], ignored: [] });
  assert.equal(await repositoryPath(join(link, 'sub')), repo, 'the top level, symlinks resolved');
  assert.equal(await repositoryPath(bare), bare, 'a bare repository: its git dir');
  assert.deepEqual(await register(join(repo, 'sub')), { path: repo, added: true });
  assert.deepEqual(await register(link), { path: repo, added: false }, 'idempotent');
  assert.deepEqual(await register(bare), { path: bare, added: true });
  assert.deepEqual((await readRegistered()).paths, [repo, bare]);
  assert.match(readFileSync(global, 'utf8'), /\[remotedaemon\]\n\trepo = .*repo\n\trepo = .*bare\.git\n/);
  await assert.rejects(register(dir.path), /not a git repository/i);

  assert.deepEqual(await unregister(repo), { path: repo, removed: true });
  assert.deepEqual(await unregister(repo), { path: repo, removed: false });
  // One that is gone is named by its path.
  gitWithEnv(dir.path, { GIT_CONFIG_GLOBAL: global }, 'config', '--global', '--add', 'remotedaemon.repo', join(dir.path, 'gone/'));
  assert.deepEqual((await readRegistered()).paths, [bare, join(dir.path, 'gone')]);
  assert.deepEqual(await unregister(join(dir.path, 'gone')), { path: join(dir.path, 'gone'), removed: true });
  assert.deepEqual((await readRegistered()).paths, [bare]);
});
