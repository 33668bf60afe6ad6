// End to end: the real daemon in the foreground, real repositories, local remotes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { parseEmitted } from '../src/protocol.js';
import { makeFixture, git, commit, pushCommit, refValue, tempDir, type Fixture } from './support/git.js';
import { daemonOnFixture, startDaemon, eventually, type RunningDaemon } from './support/daemon.js';
import { commandsIn, processesIn } from './support/procs.js';

type T = { after(fn: () => unknown): void };

const running = (t: T, setup?: (fx: Fixture) => void) => daemonOnFixture(t, setup);

const count = (d: RunningDaemon, line: string) => d.lines.filter((l) => l === line).length;

test('a push is fetched: SYNCING, DONESYNCING 1, tracking ref moved; nothing else changes', async (t) => {
  const { fx, d } = await running(t);
  const head = git(fx.local, 'rev-parse', 'HEAD');
  const status = git(fx.local, 'status', '--porcelain');
  const sha = pushCommit(fx.pusher);
  await d.waitFor('DONESYNCING origin 1');
  assert.equal(count(d, 'SYNCING origin'), 1, 'one fetch, for the push: nothing to catch up with at start');
  assert.equal(refValue(fx.local, 'refs/remotes/origin/main'), sha);
  assert.equal(d.lines.indexOf('SYNCING origin') < d.lines.indexOf('DONESYNCING origin 1'), true);
  assert.equal(git(fx.local, 'rev-parse', 'HEAD'), head, 'local branch untouched');
  assert.equal(git(fx.local, 'status', '--porcelain'), status, 'work tree untouched');
  assert.equal(refValue(fx.local, 'FETCH_HEAD'), undefined, 'FETCH_HEAD is left for the user');
});

test('a ref outside the fetch refspecs causes no fetch', async (t) => {
  const { fx, d } = await running(t);
  commit(fx.pusher);
  git(fx.pusher, 'push', '-q', 'origin', 'HEAD:refs/pull/1/head');
  git(fx.pusher, 'push', '-q', 'origin', 'HEAD:refs/notes/commits');
  const sha = pushCommit(fx.pusher, 'marker');
  await d.waitFor('DONESYNCING origin 1');
  await eventually(() => refValue(fx.local, 'refs/remotes/origin/marker') === sha, 'marker fetched');
  assert.equal(count(d, 'SYNCING origin'), 1, `lines: ${d.lines.join(' | ')}`);
});

test('a burst of 50 updates: few fetches, and the tracking refs end equal to the remote', async (t) => {
  const { fx, d } = await running(t);
  // Commits made inside the remote, so the burst is as fast as ref updates can go.
  const shas: string[] = [];
  let parent = git(fx.remote, 'rev-parse', 'main');
  for (let i = 0; i < 50; i++) {
    parent = git(fx.remote, 'commit-tree', '-p', parent, '-m', `burst ${i}`, 'main^{tree}');
    shas.push(parent);
  }
  for (const sha of shas) git(fx.remote, 'update-ref', 'refs/heads/main', sha);
  await eventually(() => refValue(fx.local, 'refs/remotes/origin/main') === shas.at(-1), 'the last update is fetched');
  await d.waitForCount(/^DONESYNCING origin /, count(d, 'SYNCING origin'));
  const fetches = count(d, 'SYNCING origin');
  assert.ok(fetches >= 1 && fetches <= 25, `50 updates cost ${fetches} fetches`);
  assert.equal(count(d, 'DONESYNCING origin 0'), 0);
  const tracking = git(fx.local, 'for-each-ref', '--format=%(objectname) %(refname:lstrip=3)', 'refs/remotes/origin/').split('\n').filter((l) => !l.endsWith(' HEAD'));
  assert.deepEqual(tracking, git(fx.remote, 'for-each-ref', '--format=%(objectname) %(refname:lstrip=2)', 'refs/heads/').split('\n'));
});

test('catches up at start with changes made while nobody watched', async (t) => {
  const fx = makeFixture();
  const sha = pushCommit(fx.pusher);
  const d = startDaemon(fx.local);
  t.after(async () => {
    await d.stop();
    fx.cleanup();
  });
  await d.waitFor('CONNECTED origin');
  await d.waitFor('DONESYNCING origin 1');
  assert.equal(refValue(fx.local, 'refs/remotes/origin/main'), sha);
});

test('PAUSE disconnects and ignores pushes; RESUME reconnects and catches up', async (t) => {
  const { fx, d } = await running(t);
  d.send('PAUSE');
  await d.waitFor('DISCONNECTED origin');
  const sha = pushCommit(fx.pusher);
  // A marker protocol exchange proves the daemon has processed everything sent before it.
  d.send('BOGUS-MARKER');
  await d.waitFor(/bad control message: unknown message "BOGUS-MARKER"/);
  assert.equal(count(d, 'SYNCING origin'), 0);
  const before = d.lines.length;
  d.send('RESUME');
  await d.waitFor('CONNECTED origin', { from: before });
  await d.waitFor('DONESYNCING origin 1', { from: before });
  assert.equal(refValue(fx.local, 'refs/remotes/origin/main'), sha);
});

test('LOSTNET leaves a local remote syncing: it needs no network (PAUSE is what stops it)', async (t) => {
  const { fx, d } = await running(t);
  d.send('LOSTNET');
  const sha = pushCommit(fx.pusher);
  await d.waitFor('DONESYNCING origin 1');
  assert.equal(refValue(fx.local, 'refs/remotes/origin/main'), sha);
  d.send('MARKER');
  await d.waitFor(/unknown message "MARKER"/);
  assert.equal(count(d, 'DISCONNECTED origin'), 0, 'the local remote stayed connected');
  assert.equal(count(d, 'CONNECTED origin'), 1);
});

test('RELOAD follows git remote add, set-url and remove, leaving the others connected', async (t) => {
  const { fx, d } = await running(t);
  const second = join(fx.root, 'second.git');
  git(fx.root, 'clone', '-q', '--bare', fx.remote, second);
  git(fx.local, 'remote', 'add', 'second', second);
  d.send('RELOAD');
  await d.waitFor('CONNECTED second');
  await d.waitFor('DONESYNCING second 1'); // catch-up: refs/remotes/second/* did not exist
  const third = join(fx.root, 'third.git');
  git(fx.root, 'clone', '-q', '--bare', fx.remote, third);
  git(fx.local, 'remote', 'set-url', 'second', third);
  let mark = d.lines.length;
  d.send('RELOAD');
  await d.waitFor('DISCONNECTED second', { from: mark });
  await d.waitFor('CONNECTED second', { from: mark });
  const sha = commit(fx.pusher);
  git(fx.pusher, 'push', '-q', third, 'HEAD:refs/heads/main');
  await eventually(() => refValue(fx.local, 'refs/remotes/second/main') === sha, 'fetched from the new url');
  mark = d.lines.length;
  git(fx.local, 'remote', 'remove', 'second');
  d.send('RELOAD');
  await d.waitFor('DISCONNECTED second', { from: mark });
  assert.equal(count(d, 'DISCONNECTED origin'), 0, 'origin was never restarted');
  const sha2 = pushCommit(fx.pusher);
  await eventually(() => refValue(fx.local, 'refs/remotes/origin/main') === sha2, 'origin still syncs');
});

test('a broken config on RELOAD is a WARNING and the remotes keep going', async (t) => {
  const { fx, d } = await running(t);
  const config = join(fx.local, '.git', 'config');
  const { readFileSync, writeFileSync } = await import('node:fs');
  const good = readFileSync(config, 'utf8');
  writeFileSync(config, `${good}[remote "broken"\n`);
  d.send('RELOAD');
  await d.waitFor(/^WARNING \* RELOAD failed, keeping the current remotes: .*bad config line/);
  // git itself cannot work with that config, so fetching waits until it is mended.
  writeFileSync(config, good);
  d.send('RELOAD');
  d.send('MARKER');
  await d.waitFor(/unknown message "MARKER"/);
  const sha = pushCommit(fx.pusher);
  await eventually(() => refValue(fx.local, 'refs/remotes/origin/main') === sha, 'origin still syncs');
  assert.equal(count(d, 'DISCONNECTED origin'), 0, 'origin was never restarted');
});

test('remotes no transport serves get one WARNING; bad lines get a WARNING and change nothing', async (t) => {
  const { fx, d } = await running(t, (fx) => git(fx.local, 'remote', 'add', 'hg', 'hg::https://example.invalid/r'));
  await d.waitFor(/^WARNING hg ignored: hg::https:\/\/example.invalid\/r: git runs git-remote-hg for it, which the daemon cannot watch/);
  d.send('');
  d.send('PAUSE please');
  d.child.stdin!.write(Buffer.from([0xff, 0xfe, 0x0a]));
  d.child.stdin!.write(Buffer.alloc(100_000, 0x41));
  d.send('');
  await d.waitForCount(/^WARNING \* bad control message: /, 4);
  const sha = pushCommit(fx.pusher);
  await eventually(() => refValue(fx.local, 'refs/remotes/origin/main') === sha, 'still syncing');
  assert.equal(count(d, 'DISCONNECTED origin'), 0);
});

for (const how of ['STOP', 'end of stdin', 'SIGTERM', 'SIGINT'] as const) {
  test(`${how}: clean exit 0 within 2 s, nothing left running`, async (t) => {
    const { fx, d } = await running(t);
    await eventually(() => commandsIn(fx.local, 'cat-file').length > 0, 'the worker has its cat-file running (started by the catch-up)', 5000);
    pushCommit(fx.pusher);
    await d.waitFor('SYNCING origin');
    const start = Date.now();
    if (how === 'STOP') d.send('STOP');
    else if (how === 'end of stdin') d.child.stdin!.end();
    else d.child.kill(how);
    const { code, at } = await d.exited;
    assert.equal(code, 0);
    assert.ok(at - start < 2000, `took ${at - start} ms`);
    await eventually(() => processesIn(fx.local).length === 0 && processesIn(fx.remote).length === 0, 'no process left', 1000);
    assert.ok(d.lines.slice(-2).includes('DISCONNECTED origin'), d.lines.join(' | '));
    assert.equal(d.lines.filter((l) => l.startsWith('DONESYNCING origin ')).length, count(d, 'SYNCING origin'), 'every SYNCING has its DONESYNCING, even at a stop');
  });
}

test('outside a repository: a clear error and exit 1', async (t) => {
  const { tempDir } = await import('./support/git.js');
  const dir = tempDir();
  t.after(dir.cleanup);
  const d = startDaemon(dir.path);
  const { code } = await d.exited;
  assert.equal(code, 1);
  assert.match(d.stderr.join('\n'), /git-remote-daemon: not a git repository/);
});

test('a local remote that vanishes is reported once and reconnected with a catch-up when it returns', async (t) => {
  const { fx, d } = await running(t);
  const { renameSync } = await import('node:fs');
  const away = `${fx.remote}.unplugged`;
  renameSync(fx.remote, away);
  await d.waitFor('DISCONNECTED origin');
  await d.waitFor(/^WARNING origin /);
  // Changed while away: the catch-up after reconnecting must bring it.
  const sha = commit(fx.pusher);
  git(fx.pusher, 'push', '-q', away, 'HEAD:refs/heads/main');
  renameSync(away, fx.remote);
  await d.waitForCount('CONNECTED origin', 2, 15_000);
  await eventually(() => refValue(fx.local, 'refs/remotes/origin/main') === sha, 'caught up after reconnecting');
  const warnings = d.lines.filter((l) => l.startsWith('WARNING origin'));
  assert.ok(warnings.length <= 2, `one warning per change of state, got: ${warnings.join(' | ')}`);
});

test('a repository without remotes says so once, and picks one up on RELOAD', async (t) => {
  const fx = makeFixture();
  git(fx.local, 'remote', 'remove', 'origin');
  const d = startDaemon(fx.local);
  t.after(async () => {
    await d.stop();
    fx.cleanup();
  });
  // A background daemon notices a remote added later by itself (configwatch.ts); a --foreground one, on RELOAD.
  await d.waitFor(/^WARNING \* no remotes to act on; add one \(git remote add\) and the daemon picks it up by itself \(with --foreground: on RELOAD\)$/);
  d.send('RELOAD');
  d.send('MARKER');
  await d.waitFor(/unknown message "MARKER"/);
  assert.equal(d.lines.filter((l) => l.startsWith('WARNING * no remotes')).length, 1);
  git(fx.local, 'remote', 'add', 'origin', fx.remote);
  d.send('RELOAD');
  await d.waitFor('CONNECTED origin');
});

test('RESUME while connected leaves the connection alone', async (t) => {
  const { fx, d } = await running(t);
  d.send('RESUME');
  d.send('MARKER');
  await d.waitFor(/unknown message "MARKER"/);
  const sha = pushCommit(fx.pusher);
  await eventually(() => refValue(fx.local, 'refs/remotes/origin/main') === sha, 'still syncing');
  assert.equal(count(d, 'DISCONNECTED origin'), 0);
  assert.equal(count(d, 'CONNECTED origin'), 1);
});

test('a tag pushed on its own is fetched, as git fetch would', async (t) => {
  const { fx, d } = await running(t);
  git(fx.pusher, 'tag', 'v1.0');
  git(fx.pusher, 'push', '-q', 'origin', 'v1.0');
  await d.waitFor('DONESYNCING origin 1');
  assert.equal(refValue(fx.local, 'refs/tags/v1.0'), refValue(fx.pusher, 'refs/tags/v1.0'));
});

test('with fetch.prune, a branch deleted on the remote is pruned here at once, and at the catch-up', async (t) => {
  const fx = makeFixture();
  git(fx.local, 'config', 'fetch.prune', 'true');
  for (const b of ['doomed', 'later']) git(fx.pusher, 'push', '-q', 'origin', `HEAD:refs/heads/${b}`);
  git(fx.local, 'fetch', '-q', 'origin');
  const d = startDaemon(fx.local);
  t.after(async () => {
    await d.stop();
    fx.cleanup();
  });
  await d.waitFor('CONNECTED origin');
  git(fx.pusher, 'push', '-q', 'origin', ':refs/heads/doomed');
  await d.waitFor('DONESYNCING origin 1');
  assert.equal(refValue(fx.local, 'refs/remotes/origin/doomed'), undefined);
  d.send('STOP');
  await d.exited;
  git(fx.pusher, 'push', '-q', 'origin', ':refs/heads/later'); // while nobody watched
  const again = startDaemon(fx.local);
  t.after(() => again.stop());
  await again.waitFor('DONESYNCING origin 1');
  assert.equal(refValue(fx.local, 'refs/remotes/origin/later'), undefined);
});

test('without prune, a deletion on the remote costs no fetch', async (t) => {
  const { fx, d } = await running(t, (fx) => {
    git(fx.pusher, 'push', '-q', 'origin', 'HEAD:refs/heads/doomed');
    git(fx.local, 'fetch', '-q', 'origin');
  });
  git(fx.pusher, 'push', '-q', 'origin', ':refs/heads/doomed');
  const sha = pushCommit(fx.pusher);
  await d.waitFor('DONESYNCING origin 1');
  await eventually(() => refValue(fx.local, 'refs/remotes/origin/main') === sha, 'the marker push fetched');
  assert.equal(count(d, 'SYNCING origin'), 1, d.lines.join(' | '));
  assert.notEqual(refValue(fx.local, 'refs/remotes/origin/doomed'), undefined, 'left as git fetch would leave it');
});

test('FETCH fetches now through the connection; an unknown remote gets a WARNING', async (t) => {
  const { d } = await running(t);
  d.send('FETCH origin');
  await d.waitFor('DONESYNCING origin 1');
  d.send('FETCH nosuch');
  await d.waitFor(/^WARNING nosuch cannot fetch: the daemon does not act on this remote/);
  d.send('FETCH');
  await d.waitForCount('DONESYNCING origin 1', 2);
});

test('stdout carries protocol lines alone: a stray console.log in the daemon or a worker thread goes to stderr', async (t) => {
  // A preload stands in for a dependency that prints: in the main thread once a control line
  // arrives, in each worker thread as it starts.
  const dir = tempDir('grd-stray-');
  const preload = join(dir.path, 'stray.cjs');
  writeFileSync(
    preload,
    `const { isMainThread } = require('node:worker_threads');
if (isMainThread) process.stdin.once('data', () => console.log('stray line from the main thread'));
else console.log('stray line from a worker thread');
`,
  );
  const fx = makeFixture();
  const d = startDaemon(fx.local, ['--foreground'], { NODE_OPTIONS: `--require ${preload}` });
  t.after(async () => {
    await d.stop();
    fx.cleanup();
    dir.cleanup();
  });
  await d.waitFor('CONNECTED origin');
  d.send('RESUME');
  await eventually(() => d.stderr.includes('stray line from the main thread'), 'the main thread printed');
  await eventually(() => d.stderr.includes('stray line from a worker thread'), 'a worker thread printed');
  pushCommit(fx.pusher);
  await d.waitFor('DONESYNCING origin 1');
  for (const line of d.lines) assert.ok(parseEmitted(line), `not a protocol line on stdout: ${JSON.stringify(line)}`);
});
