// A branch deleted on a peer is offered as deleted (the zero id): a repository whose fetches from
// it prune drops its tracking ref at once, as the notice path does for shared remotes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { git, refValue } from '../support/git.js';
import { eventually, startDaemon } from '../support/daemon.js';
import { makePeers } from './support.js';

test('p2p: a branch deleted on B is pruned from A at once, where A prunes', async (t) => {
  const p = await makePeers(t);
  const a = p.make('a', { seed: true });
  const b = p.make('b', { seed: true });
  p.link('a', 'b');
  p.link('b', 'a');
  git(b, 'branch', 'topic');
  git(a, 'config', 'remote.b.prune', 'true');
  const da = startDaemon(a, ['--foreground', '--verbose'], p.env);
  const db = startDaemon(b, ['--foreground', '--verbose'], p.env);
  t.after(() => Promise.all([da.stop(), db.stop()]));
  await eventually(() => refValue(a, 'refs/remotes/b/topic') !== undefined, 'A fetched topic', 30_000);
  await da.waitFor('CONNECTED b', { timeoutMs: 30_000 });

  const from = da.lines.length;
  git(b, 'branch', '-D', 'topic');
  await eventually(() => refValue(a, 'refs/remotes/b/topic') === undefined, 'A pruned b/topic', 10_000).catch((err: Error) =>
    assert.fail(`${err.message}; A said:\n${da.stderr.slice(-15).join('\n')}`),
  );
  await da.waitFor('DONESYNCING b 1', { from, timeoutMs: 10_000 });
  assert.ok(refValue(a, 'refs/remotes/b/main'), 'and kept the rest');
});
