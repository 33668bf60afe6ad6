// `git fetch <peer>` by hand, through git-remote-p2p: on its own connection when no daemon runs
// here, over the daemon's held link when one does. The helper asks for protocol v2 (git does not
// tell connect helpers to); the peer answers v0 either way, whose upload-pack and guard refuse a
// want that is not a shown tip (uploadpack.ts), and git follows the answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { commit, refValue } from '../support/git.js';
import { startDaemon } from '../support/daemon.js';
import { gitRun, logged, makePeers } from './support.js';

test('git fetch <peer> by hand, without and with the daemon here, is served protocol v0', async (t) => {
  const p = await makePeers(t);
  const a = p.make('a', { seed: true });
  const b = p.make('b', { seed: true });
  p.link('a', 'b');
  p.link('b', 'a');
  const db = startDaemon(b, ['--foreground', '--verbose'], p.env);
  t.after(() => db.stop());
  await logged(db, /peer node up/);

  const accepted = () => db.stderr.filter((l) => /accepted a connection from/.test(l)).length;
  const alone = await gitRun(a, { ...p.env, GIT_TRACE_PACKET: '1' }, 'fetch', 'b');
  assert.equal(alone.code, 0, alone.stderr);
  assert.equal(accepted(), 1, 'the fetch made a connection of its own');
  assert.doesNotMatch(alone.stderr, /packet: +fetch< version 2/);
  assert.match(alone.stderr, /packet: +fetch< [0-9a-f]{40} refs\/heads\/main/); // a v0 advertisement
  assert.equal(refValue(a, 'refs/remotes/b/main'), refValue(b, 'refs/heads/main'));

  const da = startDaemon(a, ['--foreground', '--verbose'], p.env);
  t.after(() => da.stop());
  await da.waitFor('CONNECTED b', { timeoutMs: 30_000 });
  const sha = commit(b, 'second');
  const before = da.stderr.length;
  // Into a ref of its own, and --refmap= so that git does not also update refs/remotes/b/main
  // opportunistically: the daemon fetches the same commit there meanwhile, and two fetches
  // writing one ref race for its lock.
  const held = await gitRun(a, { ...p.env, GIT_TRACE_PACKET: '1' }, 'fetch', '--refmap=', 'b', '+refs/heads/main:refs/by-hand/main');
  assert.equal(held.code, 0, held.stderr);
  assert.doesNotMatch(held.stderr, /packet: +fetch< version 2/);
  assert.match(held.stderr, /packet: +fetch< [0-9a-f]{40} refs\/heads\/main/);
  await logged(da, /git fetch goes over the held link/, 5000, before);
  assert.equal(refValue(a, 'refs/by-hand/main'), sha);
  // B accepted one more connection: A's held link (or none, if B dialled it), never one per fetch.
  assert.ok(accepted() <= 2, db.stderr.join('\n'));
});
