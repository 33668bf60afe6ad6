// The local half of a direct fetch (workers/direct/store.ts driving store.sh) against real
// repositories, no server: a source repository A makes the packs, a clone B takes them. It proves
// that fast-forwards and new refs move with git fetch's reflog messages (a thin pack under fsck
// too), and that whatever git fetch would refuse or do otherwise moves nothing and says why: a
// rewrite (also where the one-walk shortcut could be fooled by another tip), a pack that leaves a
// tree or a blob out, garbage, a malformed commit under fsck, a plan that never came, a ref that
// moved meanwhile. Also that abandon() and an abort end the script with its git children, and
// that fetchReport() reads back as git fetch's report.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { git, GIT_ENV, tempDir } from '../support/git.js';
import { fetchReport, Store, type StoreOutcome } from '../../workers/direct/store.js';
import type { RefMove } from '../../workers/direct/plan.js';
import { runningCount } from '../../workers/children.js';
import { parseFetchReport } from '../../workers/fetchreport.js';


/** git with `input` on stdin, its stdout as bytes (a pack). */
function gitBytes(cwd: string, input: string, ...args: string[]): Buffer {
  return execFileSync('git', args, { cwd, env: GIT_ENV, input, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 1 << 26 });
}

/** A thin pack of what `tips` reach beyond `bases`, as upload-pack would send it. */
function packOf(repo: string, tips: string[], bases: string[]): Buffer {
  return gitBytes(repo, [...tips, ...bases.map((b) => `^${b}`)].join('\n') + '\n', 'pack-objects', '--revs', '--stdout', '--thin', '-q');
}

/** A pack of exactly these objects (to leave some out). */
function packOfObjects(repo: string, objects: string[]): Buffer {
  return gitBytes(repo, objects.join('\n') + '\n', 'pack-objects', '--stdout', '-q');
}

let files = 0;
/** A commit in `repo` that changes a file (so it brings a tree and a blob of its own). */
function change(repo: string, message = `change ${++files}`): string {
  writeFileSync(join(repo, `f${files}.txt`), `${message}\n`);
  git(repo, 'add', '-A');
  git(repo, 'commit', '-q', '-m', message);
  return git(repo, 'rev-parse', 'HEAD');
}

interface Repos {
  /** The source: branch main with one commit (base) on top of root. */
  a: string;
  /** A clone of a: refs/remotes/origin/main at base. */
  b: string;
  root: string;
  base: string;
  cleanup(): void;
}

/** The repositories every test starts from, made once and copied (a copy costs a fraction of the git runs). */
let template: { path: string; root: string; base: string; cleanup(): void } | undefined;
after(() => template?.cleanup());

function repos(): Repos {
  if (!template) {
    const dir = tempDir('grd-store-template-');
    const a = join(dir.path, 'a');
    git(dir.path, 'init', '-q', '-b', 'main', a);
    const root = change(a, 'root');
    const base = change(a, 'base');
    git(dir.path, 'clone', '-q', a, join(dir.path, 'b'));
    git(join(dir.path, 'b'), 'remote', 'set-url', 'origin', '../a'); // still the copy's a once copied
    template = { path: dir.path, root, base, cleanup: dir.cleanup };
  }
  const dir = tempDir('grd-store-');
  cpSync(template.path, dir.path, { recursive: true });
  return { a: join(dir.path, 'a'), b: join(dir.path, 'b'), root: template.root, base: template.base, cleanup: dir.cleanup };
}

function ref(repo: string, name: string): string | undefined {
  try {
    return git(repo, 'rev-parse', '--verify', '-q', name);
  } catch {
    return undefined;
  }
}

function move(name: string, old: string | undefined, next: string): RefMove {
  return { src: `refs/heads/${name}`, dst: `refs/remotes/origin/${name}`, ...(old !== undefined && { old }), new: next };
}

/** A Store in `cwd` given the plan, then the pack in a few chunks, then finished. */
async function store(cwd: string, wants: string[], moves: RefMove[], pack: Buffer, strict = false): Promise<StoreOutcome> {
  const s = new Store(cwd, 'origin', strict, new AbortController().signal);
  s.plan(wants, moves);
  for (let at = 0; at < pack.length; at += 4096) await s.write(pack.subarray(at, at + 4096));
  return s.finish();
}

/** The refs under refs/remotes/ and refs/heads/, to show nothing moved. */
function refsOf(repo: string): string {
  return git(repo, 'for-each-ref', '--format=%(refname) %(objectname)', 'refs/remotes/', 'refs/heads/');
}

function lastReflog(repo: string, name: string): string {
  return git(repo, 'reflog', 'show', '--format=%gs', name).split('\n')[0]!;
}

test('a fast-forward moves its ref with "fetch origin: fast-forward", a new ref in the same plan is stored with "storing head"', async () => {
  const r = repos();
  try {
    const next = change(r.a);
    git(r.a, 'branch', 'topic', next);
    const moves = [move('main', r.base, next), move('topic', undefined, next)];
    assert.deepEqual(await store(r.b, [next], moves, packOf(r.a, [next], [r.base])), { ok: true });
    assert.equal(ref(r.b, 'refs/remotes/origin/main'), next);
    assert.equal(ref(r.b, 'refs/remotes/origin/topic'), next);
    assert.equal(lastReflog(r.b, 'refs/remotes/origin/main'), 'fetch origin: fast-forward');
    assert.equal(lastReflog(r.b, 'refs/remotes/origin/topic'), 'fetch origin: storing head');
    assert.equal(git(r.b, 'fsck', '--connectivity-only', '--no-dangling'), '');
  } finally {
    r.cleanup();
  }
});

test('several refs moved at once to different tips, all fast-forwards, all move', async () => {
  const r = repos();
  try {
    git(r.a, 'branch', 'feature', r.base);
    git(r.b, 'fetch', '-q', 'origin');
    const main = change(r.a);
    git(r.a, 'checkout', '-q', 'feature');
    const feature = change(r.a);
    const second = change(r.a);
    const moves = [move('feature', r.base, second), move('main', r.base, main)];
    const outcome = await store(r.b, [second, main], moves, packOf(r.a, [second, main], [r.base]));
    assert.deepEqual(outcome, { ok: true });
    assert.equal(ref(r.b, 'refs/remotes/origin/main'), main);
    assert.equal(ref(r.b, 'refs/remotes/origin/feature'), second);
    assert.notEqual(feature, second);
    assert.equal(lastReflog(r.b, 'refs/remotes/origin/feature'), 'fetch origin: fast-forward');
  } finally {
    r.cleanup();
  }
});

test('a rewritten ref (old not an ancestor of new) is not a fast-forward, and nothing moves', async () => {
  const r = repos();
  try {
    git(r.a, 'reset', '-q', '--hard', r.root);
    const rewritten = change(r.a, 'rewritten');
    git(r.a, 'branch', 'topic', rewritten);
    const before = refsOf(r.b);
    const moves = [move('main', r.base, rewritten), move('topic', undefined, rewritten)];
    const outcome = await store(r.b, [rewritten], moves, packOf(r.a, [rewritten], [r.base]));
    assert.deepEqual(outcome, { ok: false, why: 'refs/remotes/origin/main is not a fast-forward' });
    assert.equal(refsOf(r.b), before);
  } finally {
    r.cleanup();
  }
});

test('with two tips, a ref whose old value is only the parent of the other tip is still found rewritten, and nothing moves', async () => {
  // The one walk's boundary lists M (origin/main's value here) as the parent of C, the new ref's
  // tip; origin/main itself goes to R, which does not contain M. The shortcut must not take that.
  const r = repos();
  try {
    const m = r.base;
    const c = change(r.a, 'on top of M');
    git(r.a, 'branch', 'other', c);
    git(r.a, 'reset', '-q', '--hard', r.root);
    const rewritten = change(r.a, 'R, without M');
    const before = refsOf(r.b);
    const moves = [move('main', m, rewritten), move('other', undefined, c)];
    const outcome = await store(r.b, [rewritten, c], moves, packOf(r.a, [rewritten, c], [m]));
    assert.deepEqual(outcome, { ok: false, why: 'refs/remotes/origin/main is not a fast-forward' });
    assert.equal(refsOf(r.b), before);
    assert.equal(ref(r.b, 'refs/remotes/origin/other'), undefined);
  } finally {
    r.cleanup();
  }
});

test('with one tip, an old value reached only through a commit another local ref already has is still a fast-forward', async () => {
  // origin/main is at O; X (on top of O) is already here on local main, so the walk from the new
  // tip N stops at X and its boundary does not list O: the per-ref rev-list answers.
  const r = repos();
  try {
    const o = r.base;
    const x = change(r.a, 'X');
    git(r.b, 'fetch', '-q', 'origin');
    git(r.b, 'update-ref', 'refs/heads/main', x);
    git(r.b, 'update-ref', 'refs/remotes/origin/main', o);
    const n = change(r.a, 'N');
    const outcome = await store(r.b, [n], [move('main', o, n)], packOf(r.a, [n], [x]));
    assert.deepEqual(outcome, { ok: true });
    assert.equal(ref(r.b, 'refs/remotes/origin/main'), n);
  } finally {
    r.cleanup();
  }
});

test('a pack that leaves an object out (a commit without its tree) fails the connectivity check, and nothing moves', async () => {
  const r = repos();
  try {
    const next = change(r.a);
    const before = refsOf(r.b);
    const outcome = await store(r.b, [next], [move('main', r.base, next), move('topic', undefined, next)], packOfObjects(r.a, [next]));
    assert.equal(outcome.ok, false);
    assert.ok(!outcome.ok && outcome.why.startsWith('the pack left objects missing'), !outcome.ok ? outcome.why : '');
    assert.equal(refsOf(r.b), before);
  } finally {
    r.cleanup();
  }
});

test('a pack that brings a commit and its tree but not the new blob fails the connectivity check too, and nothing moves', async () => {
  const r = repos();
  try {
    const next = change(r.a);
    const tree = git(r.a, 'rev-parse', `${next}^{tree}`);
    const before = refsOf(r.b);
    const outcome = await store(r.b, [next], [move('main', r.base, next)], packOfObjects(r.a, [next, tree]));
    assert.equal(outcome.ok, false);
    assert.ok(!outcome.ok && outcome.why.startsWith('the pack left objects missing'), !outcome.ok ? outcome.why : '');
    assert.equal(refsOf(r.b), before);
  } finally {
    r.cleanup();
  }
});

test('with strict (fsck), a sound thin pack (deltas against objects here) unpacks and the refs move', async () => {
  const r = repos();
  try {
    writeFileSync(join(r.a, 'f1.txt'), 'a line\n'.repeat(200));
    git(r.a, 'add', '-A');
    git(r.a, 'commit', '-q', '-m', 'big');
    const big = git(r.a, 'rev-parse', 'HEAD');
    git(r.b, 'fetch', '-q', 'origin');
    writeFileSync(join(r.a, 'f1.txt'), 'a line\n'.repeat(200) + 'one more\n');
    const next = change(r.a);
    const pack = packOf(r.a, [next], [big]);
    const moves = [move('main', big, next)];
    assert.deepEqual(await store(r.b, [next], moves, pack, true), { ok: true });
    assert.equal(ref(r.b, 'refs/remotes/origin/main'), next);
    assert.equal(git(r.b, 'fsck', '--no-dangling'), '');
  } finally {
    r.cleanup();
  }
});

test('garbage instead of a pack does not unpack, and nothing moves', async () => {
  const r = repos();
  try {
    const next = change(r.a);
    const before = refsOf(r.b);
    const outcome = await store(r.b, [next], [move('main', r.base, next)], Buffer.from('this is not a pack, only words\n'.repeat(10)));
    assert.equal(outcome.ok, false);
    assert.ok(!outcome.ok && outcome.why.startsWith('the pack did not unpack'), !outcome.ok ? outcome.why : '');
    assert.equal(refsOf(r.b), before);
  } finally {
    r.cleanup();
  }
});

test('with strict (fsck) a malformed commit does not unpack, in fsck\'s words; without it the same pack unpacks and moves the ref', async () => {
  const r = repos();
  try {
    const tree = git(r.a, 'rev-parse', `${r.base}^{tree}`);
    const body = `tree ${tree}\nparent ${r.base}\nauthor Nobody 1700000000 +0000\ncommitter Test <test@example.invalid> 1700000000 +0000\n\nno email\n`;
    const bad = gitBytes(r.a, body, 'hash-object', '-t', 'commit', '-w', '--literally', '--stdin').toString().trim();
    const pack = packOfObjects(r.a, [bad]);
    const before = refsOf(r.b);
    const strict = await store(r.b, [bad], [move('main', r.base, bad)], pack, true);
    assert.equal(strict.ok, false);
    assert.ok(!strict.ok && strict.why.startsWith('the pack did not unpack') && /fsck/.test(strict.why), !strict.ok ? strict.why : '');
    assert.equal(refsOf(r.b), before);
    assert.deepEqual(await store(r.b, [bad], [move('main', r.base, bad)], pack, false), { ok: true });
    assert.equal(ref(r.b, 'refs/remotes/origin/main'), bad);
  } finally {
    r.cleanup();
  }
});

test('a pack whose plan never came moves nothing: the plan did not reach the script', async () => {
  const r = repos();
  try {
    const next = change(r.a);
    const before = refsOf(r.b);
    const s = new Store(r.b, 'origin', false, new AbortController().signal);
    await s.write(packOf(r.a, [next], [r.base]));
    assert.deepEqual(await s.finish(), { ok: false, why: 'the plan did not reach the script' });
    assert.equal(refsOf(r.b), before);
  } finally {
    r.cleanup();
  }
});

test('a ref that moved here meanwhile is not moved again: update-ref refuses, the ref keeps the other value', async () => {
  const r = repos();
  try {
    const next = change(r.a);
    const s = new Store(r.b, 'origin', false, new AbortController().signal);
    s.plan([next], [move('main', r.base, next)]);
    // Moved after the plan was made and before the script can move it: the script needs only the
    // pack (unpack-objects reads to the pack's end, not to our end of stdin), so a move after the
    // write could come after the script's own.
    git(r.b, 'update-ref', 'refs/remotes/origin/main', r.root);
    await s.write(packOf(r.a, [next], [r.base]));
    const outcome = await s.finish();
    assert.equal(outcome.ok, false);
    assert.ok(!outcome.ok && outcome.why.startsWith('a ref could not be moved'), !outcome.ok ? outcome.why : '');
    assert.equal(ref(r.b, 'refs/remotes/origin/main'), r.root);
  } finally {
    r.cleanup();
  }
});

/** True while some process of group `pgid` is alive (zombies aside: ps shows their state). */
function groupAlive(pgid: number): boolean {
  const ps = execFileSync('ps', ['-e', '-o', 'pgid=,stat='], { encoding: 'utf8' });
  return ps.split('\n').some((line) => {
    const [group, stat] = line.trim().split(/\s+/);
    return Number(group) === pgid && !stat?.startsWith('Z');
  });
}

async function until(what: () => boolean, ms = 3000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 10))) if (what()) return true;
  return what();
}

test('abandon() ends the script and the git processes it started, and nothing moves', async () => {
  const r = repos();
  try {
    const before = refsOf(r.b);
    const running = runningCount();
    const s = new Store(r.b, 'origin', false, new AbortController().signal);
    const pid = (s as unknown as { child: { pid: number } }).child.pid;
    assert.equal(runningCount(), running + 1);
    // unpack-objects and update-ref are up, waiting for the pack
    assert.ok(await until(() => execFileSync('ps', ['-e', '-o', 'pgid=,comm='], { encoding: 'utf8' }).split('\n').filter((l) => Number(l.trim().split(/\s+/)[0]) === pid).length >= 3));
    s.abandon();
    assert.equal((await s.finish()).ok, false);
    assert.equal(runningCount(), running);
    assert.ok(await until(() => !groupAlive(pid)), 'the group is gone');
    assert.equal(refsOf(r.b), before);
  } finally {
    r.cleanup();
  }
});

test('an abort of the fetch\'s signal ends the script too; a Store on an aborted signal does not start', async () => {
  const r = repos();
  try {
    const running = runningCount();
    const controller = new AbortController();
    const s = new Store(r.b, 'origin', false, controller.signal);
    const pid = (s as unknown as { child: { pid: number } }).child.pid;
    controller.abort();
    assert.equal((await s.finish()).ok, false);
    assert.equal(runningCount(), running);
    assert.ok(await until(() => !groupAlive(pid)), 'the group is gone');
    assert.throws(() => new Store(r.b, 'origin', false, controller.signal));
    assert.equal(runningCount(), running);
  } finally {
    r.cleanup();
  }
});

test('fetchReport() says "From <url>" and a line per ref that parseFetchReport reads back as the same refs and changes', () => {
  const a = '1234567'.padEnd(40, 'a');
  const b = 'abcdef0'.padEnd(40, 'b');
  const c = 'fedcba9'.padEnd(40, 'c');
  const moves: RefMove[] = [
    { src: 'refs/heads/feature/long-name', dst: 'refs/remotes/origin/feature/long-name', new: c },
    { src: 'refs/heads/main', dst: 'refs/remotes/origin/main', old: a, new: b },
  ];
  const report = fetchReport('ssh://host/repo.git', moves);
  assert.equal(report.split('\n')[0], 'From ssh://host/repo.git');
  assert.equal(report.split('\n').length, 3);
  assert.deepEqual(parseFetchReport(report), [
    { change: 'new branch', ref: 'feature/long-name', local: 'origin/feature/long-name' },
    { change: '1234567..abcdef0', ref: 'main', local: 'origin/main' },
  ]);
});
