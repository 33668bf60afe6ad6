// The shared daemon's process (src/hub/run.ts), as far as it goes without serving anything: the
// environment it drops (checked against git's own list), its title, and what it tells systemd when
// another shared daemon (this process, standing in) already runs.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { dropRepositoryEnvironment, HUB_TITLE, LOCAL_ENV_VARS } from '../../src/hub/run.js';
import { TITLE_PREFIX } from '../../src/background/daemonprocesses.js';
import { acquireLock } from '../../src/background/lock.js';
import { ensureDir } from '../../src/background/paths.js';
import { hubPaths } from '../../src/hub/paths.js';
import { git, tempDir } from '../support/git.js';
import { BIN } from '../support/daemon.js';

test('every variable git calls repository-local is dropped, and so is config passed on by git -c', (t) => {
  const dir = tempDir('grd-hubrun-');
  t.after(dir.cleanup);
  const local = git(dir.path, 'rev-parse', '--local-env-vars').split('\n');
  assert.ok(local.includes('GIT_DIR'));
  for (const name of local) assert.ok(LOCAL_ENV_VARS.includes(name), `${name} is not dropped`);

  const saved = { ...process.env };
  t.after(() => {
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
    Object.assign(process.env, saved);
  });
  for (const name of LOCAL_ENV_VARS) process.env[name] = '/somewhere';
  Object.assign(process.env, { GIT_CONFIG_KEY_0: 'core.x', GIT_CONFIG_VALUE_0: 'y', GIT_CONFIG_KEY_12: 'a.b', GIT_CONFIG_VALUE_12: 'c' });
  // What is the user's, not one repository's, stays.
  Object.assign(process.env, { GIT_CONFIG_GLOBAL: '/g', GIT_SSH_COMMAND: 'ssh -v', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_KEY_X: 'not git -c' });
  dropRepositoryEnvironment();
  const left = Object.keys(process.env).filter((name) => name.startsWith('GIT_')).sort();
  assert.deepEqual(
    left.filter((name) => ['GIT_CONFIG_GLOBAL', 'GIT_SSH_COMMAND', 'GIT_CONFIG_NOSYSTEM', 'GIT_CONFIG_KEY_X'].includes(name)),
    ['GIT_CONFIG_GLOBAL', 'GIT_CONFIG_KEY_X', 'GIT_CONFIG_NOSYSTEM', 'GIT_SSH_COMMAND'],
  );
  for (const name of [...LOCAL_ENV_VARS, 'GIT_CONFIG_KEY_0', 'GIT_CONFIG_VALUE_0', 'GIT_CONFIG_KEY_12', 'GIT_CONFIG_VALUE_12']) {
    assert.equal(process.env[name], undefined, name);
  }
});

test('its title is one other commands recognise as a daemon\'s', () => {
  assert.ok(HUB_TITLE.startsWith(TITLE_PREFIX));
});

/** A state directory of the test's own, whose shared daemon this process stands in for. */
async function hubHeldHere(t: TestContext): Promise<NodeJS.ProcessEnv> {
  const d = tempDir('grd-hubrun-');
  const env = { ...process.env, XDG_STATE_HOME: join(d.path, 'state') };
  const paths = hubPaths(env);
  ensureDir(paths);
  const before = process.title;
  process.title = HUB_TITLE;
  const held = await acquireLock(paths, 'shared');
  assert.ok(held.ok);
  t.after(() => {
    held.lock.release();
    process.title = before;
    d.cleanup();
  });
  return env;
}

test('another shared daemon running: as a service it fails, saying so on stderr', async (t) => {
  const env = await hubHeldHere(t);
  const child = spawn(process.execPath, [BIN, '--all', '--service'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const [code] = await once(child, 'close');
  assert.equal(code, 1);
  assert.equal(stderr, `git-remote-daemon: the shared daemon is already running (pid ${process.pid})\n`);
});
