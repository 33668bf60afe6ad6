// The daemon end to end with an http remote: the real binary in the foreground against a real
// `git http-backend` on loopback, polled at a short interval, and nudged by a signed webhook.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeRepos, postGitHubPush, push } from './fixture.js';
import { startGitHttp } from '../support/githttp.js';
import { startDaemon } from '../support/daemon.js';
import { git, refValue } from '../support/git.js';
import { freePort } from '../support/ports.js';

type T = { after(fn: () => unknown): void };

async function served(t: T) {
  const repos = makeRepos(t);
  const server = await startGitHttp({ root: repos.served });
  t.after(() => server.stop());
  git(repos.local, 'remote', 'set-url', 'origin', `${server.base}/repo.git`);
  return { repos, server, url: `${server.base}/repo.git` };
}

test('http: CONNECTED after the first listing, a push fetched within the poll interval, idle polls fetch nothing', async (t) => {
  const { repos, server } = await served(t);
  git(repos.local, 'config', 'remote.origin.remotedaemon-pollInterval', '1');
  const d = startDaemon(repos.local);
  t.after(() => d.stop());
  await d.waitFor('CONNECTED origin', { timeoutMs: 20_000 });
  const sha = push(repos);
  await d.waitFor('DONESYNCING origin 1', { timeoutMs: 10_000 });
  assert.equal(refValue(repos.local, 'refs/remotes/origin/main'), sha);
  // A few idle polls later: still exactly one fetch.
  const polls = server.requests.length;
  await server.untilRequests(polls + 2, 10_000);
  assert.equal(d.lines.filter((l) => l === 'SYNCING origin').length, 1, d.lines.join(' | '));
});

test('http: a signed push webhook makes the daemon look at once, long before the next poll', async (t) => {
  const { repos, url } = await served(t);
  const port = await freePort();
  git(repos.local, 'config', 'remote.origin.remotedaemon-pollInterval', '600');
  git(repos.local, 'config', 'remotedaemon.webhook.listen', `127.0.0.1:${port}`);
  git(repos.local, 'config', 'remotedaemon.webhook.secret', 's3cret');
  const d = startDaemon(repos.local);
  t.after(() => d.stop());
  await d.waitFor('CONNECTED origin', { timeoutMs: 20_000 });
  const sha = push(repos);
  assert.equal(await postGitHubPush(port, url, 'wrong', 'd-1'), 401);
  const started = Date.now();
  assert.equal(await postGitHubPush(port, url, 's3cret', 'd-2'), 202);
  await d.waitFor('DONESYNCING origin 1', { timeoutMs: 10_000 });
  assert.ok(Date.now() - started < 10_000);
  assert.equal(refValue(repos.local, 'refs/remotes/origin/main'), sha);
});
