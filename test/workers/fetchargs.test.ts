// The daemon's fetch leaves out git's housekeeping (workers/fetchargs.ts); nothing the user relies
// on may change with it. Two identical clones of one remote, the daemon's Fetcher in one and a
// plain `git fetch origin` in the other, go through the same changes (fast-forward, forced update,
// a non-fast-forward a refspec without `+` must refuse, new and followed tags, a pruned branch, a
// corrupt object under transfer.fsckObjects), and must end with the same refs, reflogs, hook calls
// and verdicts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Fetcher } from '../../workers/fetcher.js';
import { fetchArgs } from '../../workers/fetchargs.js';
import { commit, git, makeFixture, refValue } from '../support/git.js';

test('the fetch command line leaves out auto-maintenance and the commit-graph write, and FETCH_HEAD unless a refspec needs it', () => {
  const args = fetchArgs({ remote: 'origin', writeFetchHead: false, gitArgs: ['-c', 'a.b=c'] });
  assert.deepEqual(args, ['-c', 'a.b=c', '-c', 'fetch.writeCommitGraph=false', 'fetch', '--progress', '--no-auto-maintenance', '--no-write-fetch-head', 'origin']);
  assert.equal(fetchArgs({ remote: 'origin', writeFetchHead: true }).includes('--no-write-fetch-head'), false);
  assert.equal(args.includes('--no-show-forced-updates'), false, 'it would let a refspec without + take a rewritten branch');
});

/** Every ref but FETCH_HEAD (which the daemon leaves to the user) with its value. */
const refs = (repo: string) => git(repo, 'for-each-ref', '--format=%(objectname) %(refname)');
/** Each ref's reflog: values and messages ("fetch origin: forced-update"), not times. */
function reflogs(repo: string): string {
  return git(repo, 'for-each-ref', '--format=%(refname)')
    .split('\n')
    .filter(Boolean)
    .map((ref) => `${ref}\n${git(repo, 'reflog', 'show', '--format=%H %gs', ref, '--')}`)
    .join('\n');
}

test('with and without the flags: the same refs, tags, reflogs, prunes, refusals, hook calls and fsck verdict', async (t) => {
  const fx = makeFixture();
  t.after(fx.cleanup);
  const plain = join(fx.root, 'plain');
  git(fx.root, 'clone', '-q', fx.remote, plain);
  const hook = '#!/bin/sh\n{ echo "$1"; cat; } >> "$(git rev-parse --git-dir)/transactions"\n';
  for (const repo of [fx.local, plain]) {
    git(repo, 'config', '--add', 'remote.origin.fetch', 'refs/heads/strict/*:refs/strict/*'); // no +: refuses rewrites
    git(repo, 'config', 'fetch.prune', 'true');
    git(repo, 'config', 'transfer.fsckObjects', 'true');
    git(repo, 'config', 'core.logAllRefUpdates', 'always');
    writeFileSync(join(repo, '.git', 'hooks', 'reference-transaction'), hook, { mode: 0o755 });
  }
  const ours = { ok: true, stderr: '' };
  const fetcher = new Fetcher({ remote: 'origin', cwd: fx.local, plan: async () => ({}), writeFetchHead: false, onStart() {} });
  const both = async (what: string) => {
    Object.assign(ours, await fetcher.run());
    const result = (() => {
      try {
        git(plain, 'fetch', 'origin');
        return true;
      } catch {
        return false;
      }
    })();
    assert.equal(ours.ok, result, `${what}: the same verdict (ours: ${ours.stderr})`);
    assert.equal(refs(fx.local), refs(plain), `${what}: the same refs`);
    assert.equal(reflogs(fx.local), reflogs(plain), `${what}: the same reflogs`);
    const transactions = (repo: string) => readFileSync(join(repo, '.git', 'transactions'), 'utf8');
    assert.equal(transactions(fx.local), transactions(plain), `${what}: the same reference-transaction hook calls`);
    return result;
  };
  const p = fx.pusher;
  const push = (...refspecs: string[]) => git(p, 'push', '-q', '-f', 'origin', ...refspecs);

  // New branches, a fast-forward, an annotated tag on a fetched commit (followed), a lightweight one.
  commit(p, 'one');
  git(p, 'tag', '-a', '-m', 'v1', 'v1');
  git(p, 'tag', 'light');
  push('HEAD:refs/heads/main', 'HEAD:refs/heads/gone', 'HEAD:refs/heads/strict/x', 'HEAD:refs/heads/topic', 'v1', 'light');
  assert.equal(await both('new branches and tags'), true);
  assert.equal(refValue(fx.local, 'refs/tags/v1') !== undefined, true, 'tags are followed');

  // A forced update (+refspec), a rewrite the strict refspec must refuse, a deleted branch (pruned).
  const base = git(p, 'rev-parse', 'HEAD~1');
  git(p, 'reset', '-q', '--hard', base);
  commit(p, 'rewritten');
  push('HEAD:refs/heads/topic', 'HEAD:refs/heads/strict/x', ':refs/heads/gone');
  assert.equal(await both('a rewrite'), false, 'the strict refspec refuses the non-fast-forward');
  assert.notEqual(refValue(fx.local, 'refs/strict/x'), git(p, 'rev-parse', 'HEAD'));
  assert.equal(refValue(fx.local, 'refs/remotes/origin/topic'), git(p, 'rev-parse', 'HEAD'), 'the + refspec takes it');
  assert.equal(refValue(fx.local, 'refs/remotes/origin/gone'), undefined, 'pruned');
  assert.match(reflogs(fx.local), /fetch origin: forced-update/);
  push(`${git(p, 'rev-parse', 'refs/remotes/origin/strict/x')}:refs/heads/strict/x`); // undo, so later fetches can succeed

  // A corrupt commit (no email) on the remote: transfer.fsckObjects refuses it in both.
  const tree = git(p, 'rev-parse', 'HEAD^{tree}');
  const corrupt = gitWithInput(fx.remote, `tree ${tree}\nauthor Nobody 1700000000 +0000\ncommitter Nobody 1700000000 +0000\n\nbad\n`, 'hash-object', '-w', '--literally', '-t', 'commit', '--stdin');
  git(fx.remote, 'update-ref', 'refs/heads/corrupt', corrupt);
  assert.equal(await both('a corrupt object'), false, 'transfer.fsckObjects refuses it');
  assert.equal(refValue(fx.local, 'refs/remotes/origin/corrupt'), undefined);
  assert.match(ours.stderr, /fsck|missingEmail|bad/i);
});

/** git reading `input` on stdin. */
function gitWithInput(cwd: string, input: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, input, encoding: 'utf8' }).trim();
}
