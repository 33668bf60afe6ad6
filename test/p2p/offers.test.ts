// CHANGED and local ref changes are offered to the peers that want them (the ref is a source of
// their fetch refspecs for us) and were not told that value yet. Offers are hints: the receiving
// side fetches and git decides.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { commit, git, refValue } from '../support/git.js';
import { eventually, startDaemon } from '../support/daemon.js';
import { logged, makePeers } from './support.js';

test('CHANGED is offered to an interested peer that lacks the ref, not to one whose refspecs do not match; a repeat costs nothing', async (t) => {
  const p = await makePeers(t);
  const a = p.make('a', { seed: true });
  const b = p.make('b', { seed: true });
  const c = p.make('c', { seed: true });
  git(b, 'branch', 'other');
  p.link('a', 'b');
  p.link('c', 'b');
  git(c, 'config', '--replace-all', 'remote.b.fetch', '+refs/heads/other:refs/remotes/b/other');
  p.link('b', 'a'); // B's node holds a link to A (CHANGED reaches the node through its endpoint)
  git(b, 'config', '--add', 'remotedaemon.p2p.allow', p.address('c')); // C may fetch, serve-only
  const db = startDaemon(b, ['--foreground', '--verbose'], p.env);
  const da = startDaemon(a, ['--foreground', '--verbose'], p.env);
  const dc = startDaemon(c, ['--foreground', '--verbose'], p.env);
  t.after(() => Promise.all([da.stop(), db.stop(), dc.stop()]));
  await db.waitFor('CONNECTED a', { timeoutMs: 30_000 });
  await da.waitFor('DONESYNCING b 1', { timeoutMs: 30_000 });
  await dc.waitFor('DONESYNCING b 1', { timeoutMs: 30_000 });
  const mainOnB = refValue(b, 'refs/heads/main');
  const syncing = (d: { lines: string[] }, from: number) => d.lines.slice(from).filter((l) => l === 'SYNCING b').length;

  // A loses its copy (and its node tells B so); B says CHANGED: A is offered main and fetches it,
  // C is not offered it: its refspecs do not take main.
  let fromLog = db.stderr.length;
  git(a, 'update-ref', '-d', 'refs/remotes/b/main');
  await logged(db, /now holds 1 of our refs at new values/, 10_000, fromLog);
  let fromA = da.lines.length;
  const fromC = dc.lines.length;
  fromLog = db.stderr.length;
  db.send('CHANGED refs/heads/main');
  assert.match(await logged(db, /CHANGED refs\/heads\/main: offered to/, 10_000, fromLog), /offered to 1 peer$/);
  await da.waitFor('DONESYNCING b 1', { from: fromA, timeoutMs: 10_000 });
  assert.equal(refValue(a, 'refs/remotes/b/main'), mainOnB);
  await logged(db, /now holds 1 of our refs at new values/, 10_000, fromLog); // A has it again

  // A has it now: offered to nobody, however often it is said, so no fetch anywhere.
  fromA = da.lines.length;
  fromLog = db.stderr.length;
  db.send('CHANGED refs/heads/main');
  db.send('CHANGED refs/heads/main');
  await logged(db, /CHANGED refs\/heads\/main: offered to/, 10_000, fromLog);
  await eventually(() => db.stderr.slice(fromLog).filter((l) => /CHANGED refs\/heads\/main: offered to/.test(l)).length === 2, 'both CHANGED are handled');
  assert.deepEqual(
    db.stderr.slice(fromLog).filter((l) => /CHANGED refs\/heads\/main: offered to/.test(l)).map((l) => l.replace(/.*: /, '')),
    ['offered to 0 peers', 'offered to 0 peers'],
  );
  // A marker both want: the ref watcher on B offers it to A and C, one fetch each.
  const other = commit(b, 'on main'); // moves main, which only A wants
  git(b, 'update-ref', 'refs/heads/other', other);
  // Wait for the refs, not the first DONESYNCING: a fetch still finishing from before may end first.
  await eventually(() => refValue(c, 'refs/remotes/b/other') === other, 'C fetched the marker', 10_000);
  await eventually(() => refValue(a, 'refs/remotes/b/main') === other, 'A fetched the marker', 10_000);
  await dc.waitFor((l) => l === 'DONESYNCING b 1', { from: fromC, timeoutMs: 10_000 });
  assert.equal(syncing(dc, fromC), 1, `C fetched only for the marker:\n${dc.lines.slice(fromC).join('\n')}`);
  assert.ok(syncing(da, fromA) <= 2, da.lines.slice(fromA).join('\n')); // main and other may come as two notices, never more
  assert.ok(!dc.lines.slice(fromC).some((l) => /WARNING/.test(l)));
});
