// git:// against a real `git daemon`: ls-refs over protocol v2 on one TCP connection per listing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startGitDaemon } from '../support/gitdaemon.js';
import { git } from '../support/git.js';
import { connect, makeRepos, push } from './fixture.js';

test('git:// lists refs over v2 and reports a push', async (t) => {
  const repos = makeRepos(t);
  const daemon = await startGitDaemon(repos.served);
  t.after(() => daemon.stop());
  const { connection, events } = await connect(t, repos, { url: `${daemon.base}/repo.git`, pollIntervalSeconds: 1 });
  assert.equal(events.logs.filter((l) => /ls-remote/.test(l)).length, 0, 'the fast path served it');
  assert.equal((await connection.listRefs()).get('refs/heads/main'), git(repos.bare, 'rev-parse', 'main'));
  const sha = push(repos, 'feature');
  await events.until('the push', () => events.reported('refs/heads/feature') === sha, 5_000);
});

test('git:// to a repository that is not there fails the connect with the server\'s words', async (t) => {
  const repos = makeRepos(t);
  const daemon = await startGitDaemon(repos.served);
  t.after(() => daemon.stop());
  await assert.rejects(connect(t, repos, { url: `${daemon.base}/missing.git` }), /no such repository/);
});

test('git:// with core.gitProxy: git ls-remote does the listing', async (t) => {
  const repos = makeRepos(t);
  const daemon = await startGitDaemon(repos.served);
  t.after(() => daemon.stop());
  // "none for <host>": git connects directly, so the listing works, but only git knows that.
  const { connection, events, context } = await connect(t, repos, {
    url: `${daemon.base}/repo.git`,
    config: [['core.gitProxy', 'none for 127.0.0.1']],
  });
  assert.equal(context.spec.options.fastPath, false);
  assert.ok(events.logs.some((l) => /git ls-remote: core.gitProxy is set/.test(l)), events.logs.join('\n'));
  assert.ok((await connection.listRefs()).has('refs/heads/main'));
});
