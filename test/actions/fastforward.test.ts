// ff-only (src/actions/fastforward.ts) called directly on real repositories: the checked-out branch
// moves to its upstream exactly when `git merge --ff-only` would on a tree nobody works in, and
// every other case leaves the repository as it was and says why.
//
// Not in test/unit.txt although it starts no server: its ~60 git processes (each fast-forward runs
// up to nine) cost more CPU than any unit file, and the unit run must stay under 15 s on two cores.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fastForward, GitInterrupted, type FastForwardResult } from '../../src/actions/fastforward.js';
import { commit, git, tempDir } from '../support/git.js';

interface Repo {
  local: string;
  gitDir: string;
  ff(remote?: string, timeoutMs?: number, signal?: AbortSignal): Promise<FastForwardResult>;
}

/**
 * A clone-like repository without a server: main, with origin/main as its upstream (remote
 * tracking refs are all ff-only reads; the fetch that moves them is stood in for by update-ref).
 */
function fixture(t: TestContext): Repo {
  const d = tempDir('grd-ff-');
  t.after(d.cleanup);
  const local = join(d.path, 'local');
  git(d.path, 'init', '-q', '-b', 'main', local);
  writeFileSync(join(local, 'README'), 'hello\n');
  git(local, 'add', 'README');
  commit(local, 'first');
  git(local, 'remote', 'add', 'origin', join(d.path, 'origin.git'));
  git(local, 'update-ref', 'refs/remotes/origin/main', 'HEAD');
  git(local, 'config', 'branch.main.remote', 'origin');
  git(local, 'config', 'branch.main.merge', 'refs/heads/main');
  const gitDir = join(local, '.git');
  return { local, gitDir, ff: (remote = 'origin', timeoutMs = 10_000, signal) => fastForward({ cwd: local, gitDir }, remote, { timeoutMs, signal }) };
}

/** A new commit on origin/main, as a fetch would bring it: the upstream is ahead. */
function upstreamAhead(fx: Repo): string {
  const sha = git(fx.local, 'commit-tree', '-p', 'refs/remotes/origin/main', '-m', 'upstream', 'refs/remotes/origin/main^{tree}');
  git(fx.local, 'update-ref', 'refs/remotes/origin/main', sha);
  return sha;
}

const head = (fx: Repo) => git(fx.local, 'rev-parse', 'HEAD');

test('a clean checked-out branch behind its upstream is moved to it', async (t) => {
  const fx = fixture(t);
  const from = head(fx);
  const to = upstreamAhead(fx);
  assert.deepEqual(await fx.ff(), { kind: 'moved', branch: 'main', from, to });
  assert.equal(head(fx), to);
  assert.equal(git(fx.local, 'status', '--porcelain'), '', 'the work tree follows');
  assert.deepEqual(await fx.ff(), { kind: 'nothing' }, 'then it is up to date');
});

test('nothing to do: local commits not pushed yet, or a branch that follows another remote', async (t) => {
  const fx = fixture(t);
  commit(fx.local, 'not pushed yet');
  const local = head(fx);
  assert.deepEqual(await fx.ff(), { kind: 'nothing' });
  git(fx.local, 'remote', 'add', 'other', join(fx.local, '..', 'other.git'));
  upstreamAhead(fx);
  assert.deepEqual(await fx.ff('other'), { kind: 'nothing' }, 'main follows origin, not other');
  assert.equal(head(fx), local);
});

test('refused, with the reason, and nothing touched: local changes, a merge in progress, diverged, detached, no upstream, an upstream that is not there', async (t) => {
  const fx = fixture(t);
  upstreamAhead(fx);
  const refused = async (reason: string | RegExp) => {
    const before = head(fx);
    const result = await fx.ff();
    assert.equal(result.kind, 'refused');
    if (result.kind === 'refused') assert.match(result.reason, typeof reason === 'string' ? new RegExp(`^${reason.replace(/[.()]/g, '\\$&')}$`) : reason);
    assert.equal(head(fx), before, 'HEAD did not move');
  };

  writeFileSync(join(fx.local, 'README'), 'changed\n');
  git(fx.local, 'add', 'README');
  await refused('the working tree or index has local changes');
  git(fx.local, 'reset', '-q', '--hard');

  for (const [file, what] of [['MERGE_HEAD', 'a merge']]) {
    writeFileSync(join(fx.gitDir, file), '');
    await refused(`${what} is in progress`);
    rmSync(join(fx.gitDir, file));
  }
  commit(fx.local, 'local work');
  await refused('branch main has diverged from origin/main');
  git(fx.local, 'reset', '-q', '--hard', 'HEAD~1');

  git(fx.local, 'checkout', '-q', '--detach');
  await refused('HEAD is detached');
  git(fx.local, 'checkout', '-q', 'main');

  git(fx.local, 'branch', '-q', '--unset-upstream');
  await refused('branch main has no upstream');
  git(fx.local, 'config', 'branch.main.remote', 'origin');
  git(fx.local, 'config', 'branch.main.merge', 'refs/heads/nowhere');
  await refused('upstream refs/remotes/origin/nowhere does not exist');
});

test('an untracked file the fast-forward would overwrite: git merge refuses, and its reason is given', async (t) => {
  const fx = fixture(t);
  writeFileSync(join(fx.local, 'new.txt'), 'theirs\n');
  git(fx.local, 'add', 'new.txt');
  commit(fx.local, 'add new.txt');
  git(fx.local, 'update-ref', 'refs/remotes/origin/main', 'HEAD');
  git(fx.local, 'reset', '-q', '--hard', 'HEAD~1');
  writeFileSync(join(fx.local, 'new.txt'), 'mine\n');
  const before = head(fx);
  const result = await fx.ff();
  assert.equal(result.kind, 'refused');
  assert.match(result.kind === 'refused' ? result.reason : '', /^git merge --ff-only refused: .*untracked working tree files would be overwritten/);
  assert.equal(head(fx), before);
});

test('a repository without a work tree is refused', async () => {
  assert.deepEqual(await fastForward({ cwd: '/nonexistent/repo.git', gitDir: '/nonexistent/repo.git' }, 'origin', { timeoutMs: 1000 }), {
    kind: 'refused',
    reason: 'the repository has no work tree',
  });
});

test('a post-merge hook that hangs is interrupted at the time limit, and by a stop', async (t) => {
  const fx = fixture(t);
  const hook = join(fx.gitDir, 'hooks', 'post-merge');
  writeFileSync(hook, '#!/bin/sh\nexec sleep 60\n');
  chmodSync(hook, 0o755);
  upstreamAhead(fx);
  const started = Date.now();
  await assert.rejects(fx.ff('origin', 500), (err: Error) => err instanceof GitInterrupted && /^git merge did not finish within 0\.5 s \(a hook that hangs\?\); killed it$/.test(err.message));
  assert.ok(Date.now() - started < 5000, `interrupted after ${Date.now() - started} ms, at the limit`);
  upstreamAhead(fx);
  const stop = new AbortController();
  const ff = fx.ff('origin', 10_000, stop.signal);
  setImmediate(() => stop.abort());
  await assert.rejects(ff, (err: Error) => err instanceof GitInterrupted && /stopped with the daemon$/.test(err.message));
  assert.equal(existsSync(hook), true);
});
