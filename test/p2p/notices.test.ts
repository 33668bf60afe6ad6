// The change notices of workers/notice/ carried on a held peer link instead of XMPP: two devices
// that are peers and share a forge remote (http, polled once an hour here) hear of each other's
// pushes at once. One notice path, two carriers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon } from '../support/daemon.js';
import { git, refValue } from '../support/git.js';
import { startGitHttp } from '../support/githttp.js';
import { makeRepos } from '../http/fixture.js';
import { makePeers } from './support.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

// The forge's HTTP server runs in this process: git must not block the event loop while it talks to it.
const gitAsync = async (cwd: string, ...args: string[]) => (await promisify(execFile)('git', args, { cwd, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } })).stdout.trim();

test('a push from A to a shared forge remote reaches B through the peer link, long before B would poll', async (t) => {
  const forge = makeRepos(t);
  git(forge.bare, 'config', 'http.receivepack', 'true'); // pushes over http without a user
  const server = await startGitHttp({ root: forge.served });
  t.after(() => server.stop());
  const url = `${server.base}/repo.git`;
  const p = await makePeers(t);
  const a = p.make('a');
  const b = p.make('b');
  for (const repo of [a, b]) {
    git(repo, 'remote', 'add', 'forge', url);
    git(repo, 'config', 'remote.forge.remotedaemon-pollInterval', '3600');
    await gitAsync(repo, 'fetch', '-q', 'forge');
    git(repo, 'checkout', '-q', '-b', 'work', 'forge/main');
  }
  p.link('a', 'b');
  p.link('b', 'a');
  const da = startDaemon(a, ['--foreground', '--verbose'], p.env);
  const db = startDaemon(b, ['--foreground', '--verbose'], p.env);
  t.after(() => Promise.all([da.stop(), db.stop()]));
    await da.waitFor('CONNECTED forge', { timeoutMs: 30_000 });
  await db.waitFor('CONNECTED forge', { timeoutMs: 30_000 });
  await da.waitFor('CONNECTED b', { timeoutMs: 30_000 });
  await db.waitFor('CONNECTED a', { timeoutMs: 30_000 });
  const from = db.lines.length;
  git(a, 'commit', '-q', '--allow-empty', '-m', 'pushed from A');
  const sha = git(a, 'rev-parse', 'HEAD');
  await gitAsync(a, 'push', '-q', 'forge', 'HEAD:refs/heads/main'); // moves A's forge/main: that is the notice
  const pushed = Date.now();
  await db.waitFor('DONESYNCING forge 1', { from, timeoutMs: 20_000 });
  assert.equal(refValue(b, 'refs/remotes/forge/main'), sha);
  assert.ok(Date.now() - pushed < 10_000, `B fetched ${Date.now() - pushed} ms after the push, with a poll interval of an hour`);
  assert.ok(db.stderr.some((l) => /nudged/.test(l)), 'B looked because it was told');
});
