// The http transport against a real `git http-backend` behind node:http: connect, change detection
// within one interval, the cost of an idle poll, throttling, v0 servers, a server going away.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startGitHttp, type GitHttpServer } from '../support/githttp.js';
import { git } from '../support/git.js';
import { connect, makeRepos, push, type After, type Repos } from './fixture.js';

async function served(t: After, options: { auth?: { user: string; password: string } } = {}): Promise<{ repos: Repos; server: GitHttpServer; url: string }> {
  const repos = makeRepos(t);
  const server = await startGitHttp({ root: repos.served, ...options });
  t.after(() => server.stop());
  return { repos, server, url: `${server.base}/repo.git` };
}

const posts = (server: GitHttpServer) => server.requests.filter((r) => r.method === 'POST').length;

test('connects with one v2 ls-refs POST and reports a push within one interval', async (t) => {
  const { repos, server, url } = await served(t);
  const { connection, events } = await connect(t, repos, { url, pollIntervalSeconds: 1 });
  assert.deepEqual(server.requests.map((r) => [r.method, r.path, r.protocol]), [['POST', '/repo.git/git-upload-pack', 'version=2']]);
  assert.deepEqual(events.watchings, ['polling every 1 s']);
  // The catch-up right after connecting reuses that listing.
  const refs = await connection.listRefs();
  assert.equal(refs.get('refs/heads/main'), git(repos.bare, 'rev-parse', 'main'));
  assert.equal([...refs.keys()].every((r) => r.startsWith('refs/heads/')), true, 'only what the refspec needs');
  assert.equal(posts(server), 1);

  const sha = push(repos, 'topic');
  const pushedAt = Date.now();
  await events.until('the new branch', () => events.reported('refs/heads/topic') === sha, 5_000);
  assert.ok(Date.now() - pushedAt < 2_000, 'within one interval (plus jitter and the listing itself)');
  const change = events.changes.at(-1)!;
  assert.equal(change.kind, 'refs');
  assert.deepEqual(change.kind === 'refs' && [...change.refs.keys()], ['refs/heads/topic'], 'only what moved');
});

test('an idle poll is exactly one request and reports nothing', async (t) => {
  const { repos, server, url } = await served(t);
  const { events } = await connect(t, repos, { url, pollIntervalSeconds: 1 });
  const before = server.requests.length;
  assert.equal(before, 1);
  await server.untilRequests(before + 2, 5_000);
  // Each poll is one POST: no GET of info/refs, no second try. Let any straggler land first.
  await new Promise((r) => setImmediate(r));
  const [first, second] = server.requests.slice(before, before + 2);
  assert.deepEqual([first.method, second.method], ['POST', 'POST']);
  assert.ok(second.at - first.at >= 350, `two polls, not one poll of two requests (${second.at - first.at} ms apart)`);
  assert.deepEqual(events.changes, []);
});

test('fetchPlan never lets git prompt', async (t) => {
  const { repos, url } = await served(t);
  const { connection } = await connect(t, repos, { url });
  const plan = await connection.fetchPlan();
  assert.equal(plan.env?.GIT_TERMINAL_PROMPT, '0');
  assert.equal(plan.env?.GCM_INTERACTIVE, 'never');
  assert.deepEqual(plan.gitArgs, ['-c', 'credential.interactive=false']);
});

test('a v0-only server is listed with git ls-remote instead', async (t) => {
  const { repos, server, url } = await served(t);
  server.mode = { kind: 'v0' };
  const { connection, events } = await connect(t, repos, { url, pollIntervalSeconds: 1 });
  assert.ok(events.logs.some((l) => /git ls-remote from now on/.test(l)), events.logs.join('\n'));
  const sha = push(repos);
  await events.until('the push, seen by ls-remote', () => events.reported('refs/heads/main') === sha, 5_000);
  assert.equal((await connection.listRefs()).get('refs/heads/main'), sha);
});

test('429 with Retry-After: no request before it, then polling resumes', async (t) => {
  const { repos, server, url } = await served(t);
  const { events } = await connect(t, repos, { url, pollIntervalSeconds: 1 });
  server.mode = { kind: 'throttle', retryAfter: '3' };
  await events.until('a throttled poll', () => server.requests.some((r, i) => i > 0 && r.method === 'POST') && events.logs.some((l) => /slow down/.test(l)), 5_000);
  const throttledAt = Date.now();
  const count = server.requests.length;
  server.mode = { kind: 'normal' };
  const sha = push(repos);
  await events.until('the push after the wait', () => events.reported('refs/heads/main') === sha, 10_000);
  assert.ok(Date.now() - throttledAt >= 2_900, `waited ${Date.now() - throttledAt} ms`);
  assert.equal(server.requests.length, count + 1, 'one request once the wait was over');
});

test('503 with an HTTP-date Retry-After while connecting: the connect waits, then succeeds', async (t) => {
  const { repos, server, url } = await served(t);
  server.mode = { kind: 'throttle', status: 503, retryAfter: new Date(Date.now() + 2_000).toUTCString() };
  // Refuse the first request only: normal again once it was made.
  void server.untilRequests(1, 10_000).then(() => (server.mode = { kind: 'normal' }), () => {});
  const started = Date.now();
  const { connection } = await connect(t, repos, { url });
  assert.ok(Date.now() - started >= 900, 'not before the date (second resolution)');
  assert.equal(server.requests.length, 2, 'one refused request, one after the wait');
  assert.ok((await connection.listRefs()).has('refs/heads/main'));
});

test('429 with Retry-After: 0 on every request while connecting: a request a second at most, doubling, not one per round trip', async (t) => {
  const { repos, server, url } = await served(t);
  server.mode = { kind: 'throttle', retryAfter: '0' };
  // Refuse the first three requests (at 0 s, 1 s and 3 s), then answer.
  const started = Date.now();
  let thirdAt = -1;
  void server.untilRequests(3, 15_000).then(() => ((thirdAt = Date.now() - started), (server.mode = { kind: 'normal' })), () => {});
  const { connection } = await connect(t, repos, { url });
  assert.ok(thirdAt >= 2_900, `the third request ${thirdAt} ms after the first: waits of 1 s and 2 s, not one per round trip`);
  // Refused at 0 s, 1 s and 3 s (waits of 1 s, then 2 s), answered at 7 s: 4 requests, not thousands.
  assert.ok(server.requests.length <= 5, `${server.requests.length} requests`);
  assert.ok((await connection.listRefs()).has('refs/heads/main'));
});

test('a server that goes down ends the connection; once back, a new connect works', async (t) => {
  const { repos, server, url } = await served(t);
  const { connection } = await connect(t, repos, { url, pollIntervalSeconds: 1 });
  await server.stop();
  await assert.rejects(connection.done, /ECONNREFUSED|socket hang up|ECONNRESET/);
  await server.start();
  const again = await connect(t, repos, { url, pollIntervalSeconds: 1 });
  assert.ok((await again.connection.listRefs()).has('refs/heads/main'));
});

test('a redirect sends the remote to git ls-remote, which follows it as git would', async (t) => {
  const { repos, server, url } = await served(t);
  const other = await startGitHttp({ root: repos.served });
  t.after(() => other.stop());
  server.mode = { kind: 'redirect', location: `${other.base}/repo.git/info/refs?service=git-upload-pack` };
  const { events } = await connect(t, repos, { url, pollIntervalSeconds: 60 });
  assert.ok(events.logs.some((l) => /redirects/.test(l)), events.logs.join('\n'));
  assert.ok(other.requests.length > 0, 'git followed the redirect');
});
