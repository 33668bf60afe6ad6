// Two repositories that are each other's peers, each with its daemon: a commit on one is fetched by
// the other over the held link, the protocol lines as for any remote.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { commit, refValue } from '../support/git.js';
import { twoPeers } from './support.js';

test('a commit on B is fetched by A over the held link: CONNECTED, SYNCING, DONESYNCING 1', async (t) => {
  // Resolves once the catch-up on connecting fetched B's first commit.
  const { a, b, da, db } = await twoPeers(t);
  await da.waitFor('CONNECTED b', { timeoutMs: 30_000 });
  await db.waitFor('CONNECTED a', { timeoutMs: 30_000 });
  const from = da.lines.length;
  const sha = commit(b, 'second in b');
  const committed = Date.now();
  await da.waitFor('SYNCING b', { from, timeoutMs: 10_000 });
  await da.waitFor('DONESYNCING b 1', { from, timeoutMs: 10_000 });
  assert.equal(refValue(a, 'refs/remotes/b/main'), sha);
  // Noticed, not polled (the median is ~0.2 s, see bench/p2p.ts); slack for a loaded CI machine.
  const took = Date.now() - committed;
  assert.ok(took < 2000, `fetched ${took} ms after the commit`);
});
