// `git-remote-daemon notifychanges` as a real process against real repositories.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { execFileSync } from 'node:child_process';
import { makeFixture, git, commit, tempDir, type Fixture } from '../support/git.js';
import { ensureTestUser } from '../support/sshd.js';
import { parseNotifyLine, PIPE_BUF } from '../../shared/notifywire.js';
import { daemonArgv, exitWithin, start, stop, type Running } from './helpers.js';

type After = { after(fn: () => unknown): void };

async function notifier(t: After, repo: string | undefined, opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Running> {
  const args = repo === undefined ? ['notifychanges'] : ['notifychanges', repo];
  const run = start(daemonArgv(...args), opts);
  t.after(() => stop(run));
  // A deadline, not a wait: READY comes within ~0.3 s; a loaded 2-core machine starting several
  // notifiers at once has been seen to take over 5 s.
  assert.equal(await run.stdout.next(20_000, 'READY'), 'READY', run.stderr());
  return run;
}

function fixture(t: After): Fixture {
  const fx = makeFixture();
  t.after(() => fx.cleanup());
  return fx;
}

/** The shas of the next line, which must be a CHANGED line. */
async function nextChanged(run: Running, what = 'a CHANGED line'): Promise<string[]> {
  const line = await run.stdout.next(5000, what);
  const parsed = parseNotifyLine(line);
  assert.ok(parsed?.type === 'CHANGED', `expected CHANGED, got ${JSON.stringify(line)}`);
  return parsed.shas;
}

let sentinels = 0;
/**
 * Moves a fresh ref to a fresh object and checks that the next line names exactly that object.
 * Proves that nothing (bogus or straggling) was sent since the last line: anything pending would
 * come before it or be coalesced with it.
 */
async function expectOnlySentinelNext(run: Running, repo: string): Promise<void> {
  const sha = execFileSync('git', ['hash-object', '-w', '--stdin'], { cwd: repo, input: `sentinel ${++sentinels} ${Math.random()}` })
    .toString()
    .trim();
  git(repo, 'update-ref', `refs/sentinel/s${sentinels}`, sha);
  assert.deepEqual(await nextChanged(run, 'the sentinel line'), [sha]);
}

test('READY, then CHANGED with the new sha when a push lands', async (t) => {
  const fx = fixture(t);
  const run = await notifier(t, fx.remote);
  const sha = commit(fx.pusher);
  git(fx.pusher, 'push', '-q', 'origin', 'HEAD:refs/heads/main');
  assert.deepEqual(await nextChanged(run), [sha]);
  git(fx.remote, 'update-ref', 'refs/heads/other', sha);
  assert.deepEqual(await nextChanged(run), [sha]);
  await expectOnlySentinelNext(run, fx.remote);
});

test('two refs updated by one push are both reported, batched: at most the first alone, then the rest', async (t) => {
  const fx = fixture(t);
  const run = await notifier(t, fx.remote);
  const a = commit(fx.pusher);
  const b = commit(fx.pusher);
  git(fx.pusher, 'push', '-q', 'origin', `${a}:refs/heads/a`, `${b}:refs/heads/b`);
  // The first change is sent at once and later ones within the batching window: usually both refs
  // are already written when the first is read (one line), but a loaded machine may let the first
  // through alone. Never more than two lines for one push.
  const seen = await nextChanged(run);
  if (seen.length < 2) seen.push(...(await nextChanged(run, 'the rest of the push')));
  assert.deepEqual(seen.sort(), [a, b].sort());
  await expectOnlySentinelNext(run, fx.remote);
});

test('pack-refs reports nothing; a push after it is reported', async (t) => {
  const fx = fixture(t);
  const run = await notifier(t, fx.remote);
  git(fx.remote, 'pack-refs', '--all');
  await expectOnlySentinelNext(run, fx.remote);
  git(fx.remote, 'pack-refs', '--all', '--prune');
  const sha = commit(fx.pusher);
  git(fx.pusher, 'push', '-q', 'origin', 'HEAD:refs/heads/main');
  assert.deepEqual(await nextChanged(run), [sha]);
  // A packed ref moved by update-ref after gc is reported too.
  git(fx.remote, 'gc', '-q');
  const sha2 = commit(fx.pusher);
  git(fx.pusher, 'push', '-q', 'origin', 'HEAD:refs/heads/main');
  assert.deepEqual(await nextChanged(run), [sha2]);
  await expectOnlySentinelNext(run, fx.remote);
});

test('lock files, half-written, empty and deleted refs never yield a line', async (t) => {
  const fx = fixture(t);
  const run = await notifier(t, fx.remote);
  const sha = commit(fx.pusher);
  git(fx.pusher, 'push', '-q', 'origin', `HEAD:refs/heads/later`);
  assert.deepEqual(await nextChanged(run), [sha]);
  const heads = join(fx.remote, 'refs/heads');
  writeFileSync(join(heads, 'main.lock'), `${sha}\n`);
  writeFileSync(join(heads, 'locked.lock'), `${sha}\n`);
  writeFileSync(join(heads, 'half'), sha.slice(0, 17));
  writeFileSync(join(heads, 'empty'), '');
  writeFileSync(join(heads, 'junk'), 'not a sha at all\n');
  git(fx.remote, 'update-ref', '-d', 'refs/heads/later');
  await expectOnlySentinelNext(run, fx.remote);
  // Once the half-written ref is complete, it is a real change.
  appendFileSync(join(heads, 'half'), `${sha.slice(17)}\n`);
  assert.deepEqual(await nextChanged(run), [sha]);
  await expectOnlySentinelNext(run, fx.remote);
});

test('a big batch is split into whole lines of at most PIPE_BUF bytes, each written at once', async (t) => {
  const fx = fixture(t);
  const run = await notifier(t, fx.remote);
  const count = 250;
  const blobs = Array.from({ length: count }, (_, i) => `blob ${i} ${Math.random()}`);
  const dir = tempDir();
  t.after(() => dir.cleanup());
  const paths = blobs.map((content, i) => {
    const p = join(dir.path, `b${i}`);
    writeFileSync(p, content);
    return p;
  });
  const shas = execFileSync('git', ['hash-object', '-w', '--stdin-paths'], { cwd: fx.remote, input: paths.join('\n') + '\n' })
    .toString()
    .trim()
    .split('\n');
  const transaction = shas.map((sha, i) => `update refs/many/r${i} ${sha}\n`).join('');
  execFileSync('git', ['update-ref', '--stdin'], { cwd: fx.remote, input: transaction });
  const seen = new Set<string>();
  while (seen.size < count) {
    for (const sha of await nextChanged(run, `the rest of ${count} shas (${seen.size} so far)`)) seen.add(sha);
  }
  assert.deepEqual([...seen].sort(), [...shas].sort());
  // Every read chunk ended on a line boundary: no line was ever written in pieces.
  for (const chunk of run.stdout.chunks) {
    assert.ok(chunk.endsWith('\n'), `chunk ends mid-line: ...${JSON.stringify(chunk.slice(-50))}`);
    for (const line of chunk.slice(0, -1).split('\n')) assert.ok(line.length + 1 <= PIPE_BUF);
  }
});

test('exits within a second of stdin EOF, with code 0', async (t) => {
  const fx = fixture(t);
  const run = await notifier(t, fx.remote);
  const began = Date.now();
  run.child.stdin!.end();
  assert.equal(await exitWithin(run, 1000), 0);
  t.diagnostic(`exited ${Date.now() - began} ms after EOF`);
});

test('exits within a second on SIGHUP, SIGTERM, SIGINT and SIGPIPE, with 128 + the signal number', async (t) => {
  const fx = fixture(t);
  const expected = { SIGHUP: 129, SIGINT: 130, SIGPIPE: 141, SIGTERM: 143 } as const;
  for (const [signal, code] of Object.entries(expected) as [NodeJS.Signals, number][]) {
    const run = await notifier(t, fx.remote);
    run.child.kill(signal);
    assert.equal(await exitWithin(run, 1000), code, signal);
  }
});

test('exits when its reader is gone and it next has something to say (EPIPE)', async (t) => {
  const fx = fixture(t);
  const run = await notifier(t, fx.remote);
  run.child.stdout!.destroy();
  git(fx.remote, 'update-ref', 'refs/heads/poke', git(fx.remote, 'rev-parse', 'main'));
  await exitWithin(run, 1000);
});

test('a path that is not a repository: one line on stderr, exit non-zero, no READY', async (t) => {
  const dir = tempDir();
  t.after(() => dir.cleanup());
  for (const path of [join(dir.path, 'missing'), dir.path, '~nosuchuser-grd/repo']) {
    const run = start(daemonArgv('notifychanges', path));
    t.after(() => stop(run));
    const code = await exitWithin(run, 5000);
    assert.notEqual(code, 0, path);
    assert.deepEqual(run.stdout.pending(), [], `no stdout for ${path}`);
    assert.match(run.stderr(), /^git-remote-daemon notifychanges: [^\n]+\n$/, `one line for ${path}`);
  }
});

test('path forms: ~/repo, ~user/repo, /~/repo, relative, repo for repo.git, none (current repo)', async (t) => {
  const user = await ensureTestUser();
  // A fake HOME for `~`, and a directory in the test user's real home for `~grd-test`.
  const home = tempDir();
  t.after(() => home.cleanup());
  const inUserHome = mkdtempSync(join(user.home, 'grd-notify-'));
  t.after(() => rmSync(inUserHome, { recursive: true, force: true }));
  const makeBare = (dir: string) => {
    git(dir, 'init', '-q', '--bare', 'r.git');
    return join(dir, 'r.git');
  };
  const homeRepo = makeBare(home.path);
  const userRepo = makeBare(inUserHome);
  const userRel = relative(user.home, userRepo);
  const env = { ...process.env, HOME: home.path };
  const cases: { name: string; arg: string | undefined; repo: string; cwd?: string }[] = [
    { name: '~/', arg: '~/r.git', repo: homeRepo },
    { name: '/~/', arg: '/~/r.git', repo: homeRepo },
    { name: '~user/', arg: `~${'grd-test'}/${userRel}`, repo: userRepo },
    { name: '/~user/', arg: `/~${'grd-test'}/${userRel}`, repo: userRepo },
    { name: 'relative', arg: 'r.git', repo: homeRepo, cwd: home.path },
    { name: 'suffix DWIM', arg: join(home.path, 'r'), repo: homeRepo },
    { name: 'no argument', arg: undefined, repo: homeRepo, cwd: homeRepo },
  ];
  const blob = execFileSync('git', ['hash-object', '-w', '--stdin'], { cwd: homeRepo, input: 'x' }).toString().trim();
  execFileSync('git', ['hash-object', '-w', '--stdin'], { cwd: userRepo, input: 'x' });
  const runs = await Promise.all(cases.map((c) => notifier(t, c.arg, { cwd: c.cwd, env })));
  for (const [i, c] of cases.entries()) {
    git(c.repo, 'update-ref', `refs/tags/case${i}`, blob);
    assert.deepEqual(await nextChanged(runs[i]!, `the change for ${c.name}`), [blob], c.name);
  }
});

test('a push into a new ref directory is reported', async (t) => {
  const fx = fixture(t);
  const run = await notifier(t, fx.remote);
  const sha = commit(fx.pusher);
  git(fx.pusher, 'push', '-q', 'origin', 'HEAD:refs/heads/feature/deep/x');
  assert.deepEqual(await nextChanged(run), [sha]);
  const sha2 = commit(fx.pusher);
  git(fx.pusher, 'push', '-q', 'origin', 'HEAD:refs/heads/feature/deep/x');
  assert.deepEqual(await nextChanged(run), [sha2]);
});

test('a repository that vanishes while watched: one line on stderr, exit 1', async (t) => {
  const fx = fixture(t);
  const run = await notifier(t, fx.remote);
  rmSync(fx.remote, { recursive: true, force: true });
  assert.equal(await exitWithin(run, 2000), 1);
  assert.match(run.stderr(), /^git-remote-daemon notifychanges: stopped watching: [^\n]+\n$/);
});

test('PING on stdin is answered PONG, in order with CHANGED lines; other input and an overlong line are ignored', async (t) => {
  const fx = fixture(t);
  const run = await notifier(t, fx.remote);
  run.child.stdin!.write('PING\n');
  assert.equal(await run.stdout.next(5000, 'PONG'), 'PONG');
  run.child.stdin!.write(`hello\n${'x'.repeat(100_000)}\nPING\r\n`);
  assert.equal(await run.stdout.next(5000, 'PONG after junk'), 'PONG');
  const sha = commit(fx.pusher);
  git(fx.pusher, 'push', '-q', 'origin', 'HEAD:refs/heads/main');
  assert.deepEqual(await nextChanged(run), [sha]);
  run.child.stdin!.write('PING\n');
  assert.equal(await run.stdout.next(5000, 'PONG'), 'PONG');
  await expectOnlySentinelNext(run, fx.remote);
});
