// The local refs a direct fetch reads without git (workers/direct/localrefs.ts), on a real
// repository's git dir, each time compared with what `git for-each-ref` says of the same refs, so
// that a reader drifting from git's files backend fails here: loose refs over packed-refs, nested
// names, symbolic refs left out, lock files ignored, tags as names, only the prefixes asked for
// (a directory, a single ref, or a pattern's start inside a name), and a repository without
// packed-refs or without the directories asked for.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { commit, git, tempDir } from '../support/git.js';
import { readLocalRefs } from '../../workers/direct/localrefs.js';

/** What git says: the non-symbolic refs under `prefixes` with their values, and the tag names. */
function gitRefs(repo: string, prefixes: string[]): { tracking: Map<string, string>; tags: Set<string> } {
  const list = (patterns: string[]) =>
    git(repo, 'for-each-ref', '--format=%(refname) %(objectname) %(symref)', ...patterns)
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => line.split(' '))
      .filter(([, , symref]) => !symref);
  const tracking = new Map<string, string>();
  for (const [ref, sha] of list(['refs/'])) if (!ref!.startsWith('refs/tags/') && prefixes.some((p) => ref!.startsWith(p))) tracking.set(ref!, sha!);
  return { tracking: new Map([...tracking].sort()), tags: new Set(list(['refs/tags/']).map(([ref]) => ref!)) };
}

function sorted<T>(map: Map<string, T>): Map<string, T> {
  return new Map([...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function assertSameAsGit(repo: string, prefixes: string[]): ReturnType<typeof readLocalRefs> {
  const read = readLocalRefs(join(repo, '.git'), prefixes);
  const expected = gitRefs(repo, prefixes);
  assert.deepEqual(sorted(read.tracking), expected.tracking);
  assert.deepEqual(new Set([...read.tags].sort()), new Set([...expected.tags].sort()));
  return read;
}

/** A repository with remote-tracking refs of two remotes (one nested), origin/HEAD, and two tags. */
function repo(): { path: string; one: string; two: string; three: string; cleanup(): void } {
  const dir = tempDir('grd-localrefs-');
  const path = join(dir.path, 'r');
  git(dir.path, 'init', '-q', '-b', 'main', path);
  const one = commit(path, 'one');
  const two = commit(path, 'two');
  const three = commit(path, 'three');
  git(path, 'update-ref', 'refs/remotes/origin/main', one);
  git(path, 'update-ref', 'refs/remotes/origin/feature/x', two);
  git(path, 'update-ref', 'refs/remotes/origin/f-1', two);
  git(path, 'update-ref', 'refs/remotes/other/main', three);
  git(path, 'symbolic-ref', 'refs/remotes/origin/HEAD', 'refs/remotes/origin/main');
  git(path, 'tag', 'v1', one);
  git(path, 'tag', '-a', '-m', 'annotated', 'v2', two);
  return { path, one, two, three, cleanup: dir.cleanup };
}

test('loose refs are read as git reads them: nested names found, the symbolic origin/HEAD left out, tags as names', () => {
  const r = repo();
  try {
    assert.ok(!existsSync(join(r.path, '.git', 'packed-refs')), 'no packed-refs yet');
    const read = assertSameAsGit(r.path, ['refs/remotes/origin/']);
    assert.deepEqual(
      sorted(read.tracking),
      new Map([
        ['refs/remotes/origin/f-1', r.two],
        ['refs/remotes/origin/feature/x', r.two],
        ['refs/remotes/origin/main', r.one],
      ]),
    );
    assert.deepEqual(read.tags, new Set(['refs/tags/v1', 'refs/tags/v2']));
  } finally {
    r.cleanup();
  }
});

test('after pack-refs, packed values are read, and a loose ref moved since wins over its packed value', () => {
  const r = repo();
  try {
    git(r.path, 'pack-refs', '--all');
    assert.ok(!existsSync(join(r.path, '.git', 'refs', 'remotes', 'origin', 'main')), 'packed, not loose');
    assertSameAsGit(r.path, ['refs/remotes/origin/']);
    git(r.path, 'update-ref', 'refs/remotes/origin/main', r.three);
    git(r.path, 'tag', 'v3', r.three);
    const read = assertSameAsGit(r.path, ['refs/remotes/origin/']);
    assert.equal(read.tracking.get('refs/remotes/origin/main'), r.three);
    assert.ok(read.tags.has('refs/tags/v3') && read.tags.has('refs/tags/v1'));
  } finally {
    r.cleanup();
  }
});

test('lock files are ignored, loose or nested, and a ref being locked keeps the value it has', () => {
  const r = repo();
  try {
    const origin = join(r.path, '.git', 'refs', 'remotes', 'origin');
    writeFileSync(join(origin, 'main.lock'), `${r.three}\n`);
    writeFileSync(join(origin, 'new.lock'), `${r.three}\n`);
    writeFileSync(join(origin, 'feature', 'x.lock'), `${r.three}\n`);
    const read = assertSameAsGit(r.path, ['refs/remotes/origin/']);
    assert.equal(read.tracking.get('refs/remotes/origin/main'), r.one);
    assert.ok(![...read.tracking.keys()].some((ref) => ref.endsWith('.lock')));
  } finally {
    r.cleanup();
  }
});

test('only the prefixes asked for are read (and tags): another remote\'s refs and local branches are not', () => {
  const r = repo();
  try {
    for (const packed of [false, true]) {
      if (packed) git(r.path, 'pack-refs', '--all');
      const read = assertSameAsGit(r.path, ['refs/remotes/other/']);
      assert.deepEqual([...read.tracking.keys()], ['refs/remotes/other/main']);
      assertSameAsGit(r.path, ['refs/remotes/origin/', 'refs/remotes/other/']);
    }
  } finally {
    r.cleanup();
  }
});

test('a prefix that is a single ref (a refspec without a pattern) or a pattern\'s start inside a name reads its loose refs too', () => {
  // fetch.ts asks for `refs/remotes/origin/main` for `refs/heads/main:refs/remotes/origin/main`, and
  // `refs/remotes/origin/f-` for `refs/heads/f-*:refs/remotes/origin/f-*`: neither is a directory.
  const r = repo();
  try {
    git(r.path, 'pack-refs', '--all');
    git(r.path, 'update-ref', 'refs/remotes/origin/main', r.two);
    git(r.path, 'update-ref', 'refs/remotes/origin/f-1', r.three);
    git(r.path, 'update-ref', 'refs/remotes/origin/f-2', r.one);
    const single = assertSameAsGit(r.path, ['refs/remotes/origin/main']);
    assert.equal(single.tracking.get('refs/remotes/origin/main'), r.two);
    const partial = assertSameAsGit(r.path, ['refs/remotes/origin/f-']);
    assert.deepEqual(
      sorted(partial.tracking),
      new Map([
        ['refs/remotes/origin/f-1', r.three],
        ['refs/remotes/origin/f-2', r.one],
      ]),
    );
  } finally {
    r.cleanup();
  }
});

test('a repository without packed-refs, without the directories asked for, or without refs/tags reads as empty, not as an error', () => {
  const dir = tempDir('grd-localrefs-');
  try {
    const path = join(dir.path, 'r');
    git(dir.path, 'init', '-q', '-b', 'main', path);
    assert.deepEqual(assertSameAsGit(path, ['refs/remotes/origin/']), { tracking: new Map(), tags: new Set() });
    rmSync(join(path, '.git', 'refs', 'tags'), { recursive: true });
    assert.deepEqual(readLocalRefs(join(path, '.git'), ['refs/remotes/origin/', 'refs/remotes/origin/main']), { tracking: new Map(), tags: new Set() });
    // only packed-refs, no loose directories at all under refs/remotes
    mkdirSync(join(path, '.git', 'refs', 'tags'));
    const one = commit(path, 'one');
    git(path, 'update-ref', 'refs/remotes/origin/main', one);
    git(path, 'pack-refs', '--all');
    rmSync(join(path, '.git', 'refs', 'remotes'), { recursive: true, force: true });
    assert.deepEqual(assertSameAsGit(path, ['refs/remotes/origin/']).tracking, new Map([['refs/remotes/origin/main', one]]));
  } finally {
    dir.cleanup();
  }
});
