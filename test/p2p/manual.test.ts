// `git fetch <peer>` by hand, through git-remote-p2p: on its own connection when no daemon runs
// here, over the daemon's held link when one does; protocol v2 either way (the helper asks for it,
// since git does not tell connect helpers to).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { commit, refValue } from '../support/git.js';
import { startDaemon } from '../support/daemon.js';
import { gitRun, logged, makePeers } from './support.js';

test('git fetch <peer> by hand, without and with the daemon here, speaks protocol v2', async (t) => {
  const p = await makePeers(t);
  const a = p.make('a', { seed: true });
  const b = p.make('b', { seed: true });
  p.link('a', 'b');
  p.link('b', 'a');
  const db = startDaemon(b, ['--foreground', '--verbose'], p.env);
  t.after(() => db.stop());
  await logged(db, /peer node up/);

  const alone = await gitRun(a, { ...p.env, GIT_TRACE_PACKET: '1' }, 'fetch', 'b');
  assert.equal(alone.code, 0, alone.stderr);
  assert.match(alone.stderr, /packet: +fetch< version 2/);
  assert.equal(refValue(a, 'refs/remotes/b/main'), refValue(b, 'refs/heads/main'));

  const da = startDaemon(a, ['--foreground', '--verbose'], p.env);
  t.after(() => da.stop());
  await da.waitFor('CONNECTED b', { timeoutMs: 30_000 });
  const sha = commit(b, 'second');
  const before = da.stderr.length;
  const held = await gitRun(a, { ...p.env, GIT_TRACE_PACKET: '1' }, 'fetch', 'b');
  assert.equal(held.code, 0, held.stderr);
  assert.match(held.stderr, /packet: +fetch< version 2/);
  await logged(da, /git fetch goes over the held link/, 5000, before);
  assert.equal(refValue(a, 'refs/remotes/b/main'), sha);
});
