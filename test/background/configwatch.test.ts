// Config edits reload the background daemon by themselves, debounced: git remote add, set-url,
// remove, and an edit in an included file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { git, gitWithEnv, pushCommit, refValue, tempDir } from '../support/git.js';
import { eventually } from '../support/daemon.js';
import { backgroundFixture, cli, logLines, pidFrom, waitForLog } from './support.js';

test('git remote add / set-url / remove are noticed without a RELOAD', async (t) => {
  const fx = backgroundFixture(t);
  assert.equal((await cli(fx.local, [])).code, 0);
  await waitForLog(fx.paths, 'CONNECTED origin');
  const second = join(fx.root, 'second.git');
  git(fx.root, 'clone', '-q', '--bare', fx.remote, second);

  git(fx.local, 'remote', 'add', 'second', second);
  await waitForLog(fx.paths, 'CONNECTED second');
  const status = await cli(fx.local, ['status']);
  assert.match(status.stdout, /^second\s+local\s+connected/m);
  // The new remote is really watched: a push to it is fetched.
  git(fx.pusher, 'remote', 'add', 'second', second);
  const sha = pushCommit(fx.pusher);
  git(fx.pusher, 'push', '-q', 'second', 'HEAD:refs/heads/main');
  await eventually(() => refValue(fx.local, 'refs/remotes/second/main') === sha, 'second fetched');

  const third = join(fx.root, 'third.git');
  git(fx.root, 'clone', '-q', '--bare', fx.remote, third);
  git(fx.local, 'remote', 'set-url', 'second', third);
  await waitForLog(fx.paths, 'CONNECTED second', 2);
  git(fx.local, 'remote', 'remove', 'second');
  await waitForLog(fx.paths, 'DISCONNECTED second', 2);
  assert.equal(logLines(fx.paths).filter((l) => l === 'DISCONNECTED origin').length, 0, 'origin untouched throughout');
  assert.equal(logLines(fx.paths).filter((l) => l.startsWith('# control pipe')).length, 0, 'no manual RELOAD');
  assert.equal((await cli(fx.local, ['stop'])).code, 0);
});

test('a burst of config edits costs few reloads; an included file is watched too', async (t) => {
  const fx = backgroundFixture(t);
  const extra = join(fx.root, 'extra.cfg');
  writeFileSync(extra, '');
  git(fx.local, 'config', 'include.path', extra);
  assert.equal((await cli(fx.local, [])).code, 0);
  await waitForLog(fx.paths, 'CONNECTED origin');
  for (let i = 0; i < 10; i++) git(fx.local, 'config', `x.y${i}`, 'z');
  await waitForLog(fx.paths, '# config changed; reloading');
  const reloads = () => logLines(fx.paths).filter((l) => l === '# config changed; reloading').length;
  assert.ok(reloads() <= 3, `${reloads()} reloads for 10 edits`);

  const inc = join(fx.root, 'inc.git');
  git(fx.root, 'clone', '-q', '--bare', fx.remote, inc);
  writeFileSync(extra, `[remote "inc"]\n\turl = ${inc}\n\tfetch = +refs/heads/*:refs/remotes/inc/*\n`);
  await waitForLog(fx.paths, 'CONNECTED inc');
  assert.equal((await cli(fx.local, ['stop'])).code, 0);
});

test('a global config created after the start is watched: git config --global is noticed', async (t) => {
  const fx = backgroundFixture(t);
  const home = tempDir();
  t.after(() => home.cleanup());
  const env = { HOME: home.path, XDG_CONFIG_HOME: '', GIT_CONFIG_GLOBAL: undefined };
  assert.equal(existsSync(join(home.path, '.gitconfig')), false);
  assert.equal((await cli(fx.local, [], env)).code, 0);
  await waitForLog(fx.paths, 'CONNECTED origin');
  await waitForLog(fx.paths, `# watching ${home.path} for config changes`);

  const glob = join(fx.root, 'glob.git');
  git(fx.root, 'clone', '-q', '--bare', fx.remote, glob);
  gitWithEnv(fx.local, { HOME: home.path }, 'config', '--global', 'remote.glob.url', glob);
  gitWithEnv(fx.local, { HOME: home.path }, 'config', '--global', 'remote.glob.fetch', '+refs/heads/*:refs/remotes/glob/*');
  await waitForLog(fx.paths, 'CONNECTED glob');
  assert.equal(logLines(fx.paths).filter((l) => l.startsWith('# control pipe')).length, 0, 'no manual RELOAD');
  assert.equal((await cli(fx.local, ['stop'], env)).code, 0);
});

test('RELOAD and SIGHUP also pick up what to watch: an include whose directory appeared later', async (t) => {
  const fx = backgroundFixture(t);
  const dirs = ['by-reload', 'by-sighup'].map((d) => join(fx.root, d));
  for (const dir of dirs) git(fx.local, 'config', '--add', 'include.path', join(dir, 'extra.cfg'));
  const started = await cli(fx.local, []);
  assert.equal(started.code, 0, started.stderr);
  const pid = pidFrom(started.stdout);
  await waitForLog(fx.paths, 'CONNECTED origin');
  const remote = (name: string) => {
    const path = join(fx.root, `${name}.git`);
    git(fx.root, 'clone', '-q', '--bare', fx.remote, path);
    return `[remote "${name}"]\n\turl = ${path}\n\tfetch = +refs/heads/*:refs/remotes/${name}/*\n`;
  };
  const reloads: [string, () => Promise<unknown>][] = [
    ['by-reload', () => cli(fx.local, ['reload'])],
    ['by-sighup', async () => process.kill(pid, 'SIGHUP')],
  ];
  for (const [i, [name, reload]] of reloads.entries()) {
    // The directory did not exist when the daemon started, so nothing watches it yet.
    mkdirSync(dirs[i]);
    const first = remote(`${name}-1`);
    writeFileSync(join(dirs[i], 'extra.cfg'), first);
    await reload();
    await waitForLog(fx.paths, `CONNECTED ${name}-1`);
    await waitForLog(fx.paths, `# watching ${dirs[i]} for config changes`);
    // From now on an edit there is noticed by itself.
    writeFileSync(join(dirs[i], 'extra.cfg'), first + remote(`${name}-2`));
    await waitForLog(fx.paths, `CONNECTED ${name}-2`);
  }
  assert.equal((await cli(fx.local, ['stop'])).code, 0);
});
