// What arrives through git-remote-p2p is checked as `transfer.fsckObjects` checks it, whoever runs
// the fetch: a hand-run `git fetch <peer>` in a repository without that setting must not take what
// the daemon's own fetch would refuse (workers/p2p/received.ts). The peer serves, for real, a
// repository whose branch names a commit with a malformed author line (hash-object --literally).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { git, refValue } from '../support/git.js';
import { startDaemon } from '../support/daemon.js';
import { gitRun, logged, makePeers, twoPeers } from './support.js';

/** A commit on top of `main` whose author line git's fsck rejects (no email), made `main`. */
function corruptMain(repo: string): string {
  const tree = git(repo, 'rev-parse', 'main^{tree}');
  const parent = git(repo, 'rev-parse', 'main');
  const body = `tree ${tree}\nparent ${parent}\nauthor Mallory 1700000000 +0000\ncommitter Mallory <m@example.invalid> 1700000000 +0000\n\nbad\n`;
  const sha = execFileSync('git', ['hash-object', '--literally', '-t', 'commit', '-w', '--stdin'], { cwd: repo, input: body, encoding: 'utf8' }).trim();
  git(repo, 'update-ref', 'refs/heads/main', sha);
  return sha;
}

test('a hand-run git fetch <peer> refuses a corrupt object without any fsck setting; fetch.fsck.<msg-id> is honoured', async (t) => {
  const p = await makePeers(t);
  const a = p.make('a', { seed: true });
  const b = p.make('b', { seed: true });
  p.link('a', 'b');
  p.link('b', 'a'); // b serves a
  const db = startDaemon(b, ['--foreground', '--verbose'], p.env);
  t.after(() => db.stop());
  await logged(db, /peer node up/);
  const bad = corruptMain(b);

  const refused = await gitRun(a, p.env, 'fetch', 'b');
  assert.notEqual(refused.code, 0, 'the fetch fails');
  assert.match(refused.stderr, /git-remote-p2p: refused what peer sent: .*missingEmail/);
  assert.equal(refValue(a, 'refs/remotes/b/main'), undefined, 'no ref moved');
  // Nor is it kept: git skips a transfer whose objects it has, so a kept one would be taken next time.
  const kept = () => gitRun(a, p.env, 'cat-file', '-e', bad).then((r) => r.code === 0);
  assert.equal(await kept(), false, 'the refused objects are not kept');

  // Small fetches arrive as loose objects (unpack-objects), large ones as a pack: both are checked.
  const asPack = await gitRun(a, p.env, '-c', 'fetch.unpackLimit=1', 'fetch', 'b');
  assert.notEqual(asPack.code, 0);
  assert.match(asPack.stderr, /refused what peer sent: .*missingEmail/);
  assert.equal(refValue(a, 'refs/remotes/b/main'), undefined);
  assert.equal(await kept(), false);

  // What the user waives for git's own check is waived here too.
  const waived = await gitRun(a, p.env, '-c', 'fetch.fsck.missingEmail=ignore', 'fetch', 'b');
  assert.equal(waived.code, 0, waived.stderr);
  assert.equal(refValue(a, 'refs/remotes/b/main'), bad);
});

test('the daemon\'s own fetch from a peer refuses a corrupt object without any fsck setting: its direct fetch gives way, git fetch refuses too, no ref moves', async (t) => {
  const { a, b, da } = await twoPeers(t);
  const before = refValue(a, 'refs/remotes/b/main');
  corruptMain(b);
  await da.waitFor('DONESYNCING b 0', { timeoutMs: 30_000 });
  await logged(da, /b: fetching with git fetch: the pack did not unpack: .*fsck/);
  assert.equal(refValue(a, 'refs/remotes/b/main'), before, 'no ref moved');
});
