// https with a CA made at test time: http.sslCAInfo is a setting our own request does not honour,
// so the remote is listed by `git ls-remote`, which must still see pushes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startGitHttp } from '../support/githttp.js';
import { connect, makeRepos, push } from './fixture.js';

test('https with http.sslCAInfo: listed by git ls-remote, pushes seen', async (t) => {
  const repos = makeRepos(t);
  const server = await startGitHttp({ root: repos.served, tls: { dir: repos.root } });
  t.after(() => server.stop());
  assert.match(server.base, /^https:/);
  const { connection, events, context } = await connect(t, repos, {
    url: `${server.base}/repo.git`,
    config: [['http.sslCAInfo', server.caFile!]],
    pollIntervalSeconds: 1,
  });
  assert.equal(context.spec.options.fastPath, false);
  assert.deepEqual(context.spec.options.fallbackReasons, ['http.sslcainfo is set']);
  assert.ok(events.logs.some((l) => /git ls-remote: http\.sslcainfo is set/.test(l)), events.logs.join('\n'));
  assert.ok((await connection.listRefs()).has('refs/heads/main'));
  const sha = push(repos);
  await events.until('the push', () => events.reported('refs/heads/main') === sha, 5_000);
});

test('https without a trusted CA: neither Node nor git trusts it, and the error says so', async (t) => {
  const repos = makeRepos(t);
  const server = await startGitHttp({ root: repos.served, tls: { dir: repos.root } });
  t.after(() => server.stop());
  await assert.rejects(connect(t, repos, { url: `${server.base}/repo.git` }), /certificate|SSL/i);
});
