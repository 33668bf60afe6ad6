// After-fetch actions with the real daemon (foreground, so the protocol lines can be read):
// ff-only on a clean tree, refusals that leave the user's work alone and are said once, and the
// afterFetch command with hostile ref names, failures and a timeout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeFixture, git, commit, pushCommit, refValue, type Fixture } from './support/git.js';
import { daemonOnFixture, eventually, type RunningDaemon } from './support/daemon.js';

type T = { after(fn: () => unknown): void };

/** A fixture whose branches have a tracked file, and a daemon with `config` set before it starts. */
function running(t: T, config: Record<string, string>): Promise<{ fx: Fixture; d: RunningDaemon }> {
  return daemonOnFixture(t, (fx) => {
    writeFileSync(join(fx.pusher, 'file.txt'), 'one\n');
    git(fx.pusher, 'add', 'file.txt');
    commit(fx.pusher, 'add file');
    git(fx.pusher, 'push', '-q', 'origin', 'main');
    git(fx.local, 'pull', '-q', '--ff-only');
    for (const [key, value] of Object.entries(config)) git(fx.local, 'config', key, value);
  });
}

const head = (fx: Fixture) => git(fx.local, 'rev-parse', 'HEAD');
const warnings = (d: RunningDaemon) => d.lines.filter((l) => l.startsWith('WARNING origin'));

test('ff-only fast-forwards a clean checked-out branch after each fetch; off by default', async (t) => {
  const off = await running(t, {});
  pushCommit(off.fx.pusher);
  await off.d.waitFor('DONESYNCING origin 1');
  assert.notEqual(head(off.fx), refValue(off.fx.local, 'refs/remotes/origin/main'), 'no pull unless asked');

  const { fx, d } = await running(t, { 'remote.origin.remotedaemon-pull': 'ff-only' });
  writeFileSync(join(fx.local, 'untracked.txt'), 'mine\n'); // untracked files do not stop a fast-forward
  const sha = pushCommit(fx.pusher);
  await eventually(() => head(fx) === sha, 'branch fast-forwarded');
  assert.equal(git(fx.local, 'status', '--porcelain', '--untracked-files=no'), '');
  assert.equal(readFileSync(join(fx.local, 'untracked.txt'), 'utf8'), 'mine\n');
  assert.deepEqual(warnings(d), []);
  await eventually(() => d.stderr.some((l) => /origin: fast-forwarded main from \w+ to \w+/.test(l)), 'logged');
});

test('ff-only refuses on a dirty tree, says so once, keeps the changes, and catches up once clean', async (t) => {
  const { fx, d } = await running(t, { 'remote.origin.remotedaemon-pull': 'ff-only' });
  const before = head(fx);
  writeFileSync(join(fx.local, 'file.txt'), 'my edit\n');
  const first = pushCommit(fx.pusher);
  await d.waitFor('WARNING origin not fast-forwarding: the working tree or index has local changes');
  const second = pushCommit(fx.pusher);
  await eventually(() => refValue(fx.local, 'refs/remotes/origin/main') === second, 'second push fetched');
  await d.waitForCount(/^DONESYNCING origin 1$/, 2);
  await eventually(() => d.stderr.some((l) => l.includes('still not fast-forwarding')), 'second refusal only logged');
  assert.equal(warnings(d).length, 1, warnings(d).join('\n'));
  assert.equal(head(fx), before, 'branch untouched');
  assert.equal(readFileSync(join(fx.local, 'file.txt'), 'utf8'), 'my edit\n', 'the edit is intact');
  assert.notEqual(first, second);

  // Staged changes count too.
  git(fx.local, 'add', 'file.txt');
  pushCommit(fx.pusher);
  await d.waitForCount(/^DONESYNCING origin 1$/, 3);
  await eventually(() => d.stderr.filter((l) => l.includes('still not fast-forwarding')).length >= 2, 'still refused');
  assert.equal(head(fx), before);

  git(fx.local, 'reset', '-q', '--hard');
  const third = pushCommit(fx.pusher);
  await eventually(() => head(fx) === third, 'caught up once clean');
});

test('ff-only leaves alone: an operation in progress, diverged history, a branch following another remote', async (t) => {
  const { fx, d } = await running(t, { 'remote.origin.remotedaemon-pull': 'ff-only' });
  const gitDir = join(fx.local, '.git');
  const before = head(fx);
  mkdirSync(join(gitDir, 'rebase-merge'));
  pushCommit(fx.pusher);
  await d.waitFor('WARNING origin not fast-forwarding: a rebase is in progress');
  assert.equal(head(fx), before);
  rmSync(join(gitDir, 'rebase-merge'), { recursive: true });

  // Diverged: a local commit the remote does not have.
  git(fx.local, 'merge', '-q', '--ff-only', 'origin/main');
  const local = commit(fx.local, 'local work');
  pushCommit(fx.pusher);
  await d.waitFor('WARNING origin not fast-forwarding: branch main has diverged from origin/main');
  assert.equal(head(fx), local);

  // A branch whose upstream is on another remote is not origin's business: no warning, no move.
  git(fx.local, 'remote', 'add', 'other', fx.remote);
  git(fx.local, 'fetch', '-q', 'other');
  git(fx.local, 'checkout', '-q', '-b', 'follow', '--track', 'other/main');
  const followHead = head(fx);
  const n = warnings(d).length;
  const fetches = d.lines.filter((l) => l === 'DONESYNCING origin 1').length;
  const sha = pushCommit(fx.pusher);
  await eventually(() => refValue(fx.local, 'refs/remotes/origin/main') === sha, 'fetched');
  await d.waitForCount(/^DONESYNCING origin 1$/, fetches + 1);
  assert.equal(warnings(d).length, n);
  assert.equal(head(fx), followHead);
});

test('afterFetch gets hostile ref names only as data (env and stdin), never as shell code', async (t) => {
  const { fx, d } = await running(t, {
    'remotedaemon.afterFetch': 'printf "%s\\n" "$GIT_REMOTE_DAEMON_REMOTE" >> after-remote.txt; printf "%s\\n" "$GIT_REMOTE_DAEMON_REFS" >> after-refs.txt; cat >> after-stdin.txt',
  });
  const hostile = ['$(touch${IFS}pwned1)', ';touch${IFS}pwned2;', '`touch${IFS}pwned3`', `'"&|<>x`, '%s%n'];
  const sha = commit(fx.pusher);
  git(fx.pusher, 'push', '-q', 'origin', ...hostile.map((h) => `HEAD:refs/heads/${h}`));
  await eventually(() => existsSync(join(fx.local, 'after-stdin.txt')) && readFileSync(join(fx.local, 'after-stdin.txt'), 'utf8').split('\n').length > hostile.length, 'afterFetch ran');
  const expected = hostile.map((h) => `refs/remotes/origin/${h}`).sort();
  // One run per fetch; the push may have been seen as one change or several.
  for (const line of readFileSync(join(fx.local, 'after-remote.txt'), 'utf8').trim().split('\n')) assert.equal(line, 'origin');
  assert.deepEqual(readFileSync(join(fx.local, 'after-refs.txt'), 'utf8').trim().split(/[ \n]/).sort(), expected);
  const stdin = readFileSync(join(fx.local, 'after-stdin.txt'), 'utf8').trim().split('\n');
  assert.deepEqual(stdin.map((l) => l.split(' ').slice(2).join(' ')).sort(), expected);
  for (const line of stdin) assert.match(line, new RegExp(`^0{40} ${sha} `));
  for (const name of ['pwned1', 'pwned2', 'pwned3']) {
    assert.equal(existsSync(join(fx.local, name)), false, `${name} was not created`);
    assert.equal(existsSync(join(fx.root, name)), false);
  }
  assert.deepEqual(warnings(d), []);
});

test('afterFetch failures and timeouts are WARNINGs; a timed-out command and its children are killed', async (t) => {
  const { fx, d } = await running(t, {
    'remotedaemon.afterFetch': 'if [ -e slow ]; then sleep 97.5 & sleep 98.5; else echo failing >&2; exit 3; fi',
    'remotedaemon.afterFetchTimeout': '0.5',
  });
  pushCommit(fx.pusher);
  await d.waitFor('WARNING origin afterFetch command failed: exit code 3: failing');
  writeFileSync(join(fx.local, 'slow'), '');
  pushCommit(fx.pusher);
  await d.waitFor(/^WARNING origin afterFetch command failed: timed out after 0.5 s/);
  const sleepers = () =>
    readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
          const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
          return /sleep\0(97|98)\.5/.test(cmd) && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
        } catch {
          return false;
        }
      });
  await eventually(() => sleepers().length === 0, 'the command and its background child are gone');
  // The daemon carries on.
  const sha = pushCommit(fx.pusher);
  await eventually(() => refValue(fx.local, 'refs/remotes/origin/main') === sha, 'still fetching');
});

test('the updates a fetch reports: created, moved and deleted refs, sorted, zeros for absent', async () => {
  const { diffRefs } = await import('../workers/fetcher.js');
  const a = '1'.repeat(40);
  const b = '2'.repeat(40);
  const before = new Map([['refs/remotes/o/main', a], ['refs/remotes/o/gone', a], ['refs/remotes/o/same', b]]);
  const after = new Map([['refs/remotes/o/main', b], ['refs/remotes/o/new', b], ['refs/remotes/o/same', b]]);
  assert.deepEqual(diffRefs(before, after), [
    { ref: 'refs/remotes/o/gone', old: a, new: '0'.repeat(40) },
    { ref: 'refs/remotes/o/main', old: a, new: b },
    { ref: 'refs/remotes/o/new', old: '0'.repeat(40), new: b },
  ]);
});

test('remotedaemon-pull: ff-only in any case pulls; git false spellings and none are off; anything else is a problem', async () => {
  const { actionSettings } = await import('../src/actions/index.js');
  const settings = (value: string) => actionSettings(new Map([['remote.o.remotedaemon-pull', [value]]]));
  for (const on of ['ff-only', 'FF-Only']) assert.deepEqual([...settings(on).pull], ['o'], on);
  for (const off of ['false', 'No', 'OFF', '0', '', 'none']) {
    const s = settings(off);
    assert.deepEqual([s.pull.size, s.problems], [0, []], off);
  }
  for (const bad of ['true', 'yes', 'rebase']) {
    const s = settings(bad);
    assert.equal(s.pull.size, 0, bad);
    assert.match(s.problems[0]?.text ?? '', /must be ff-only or false/, bad);
  }
});

/** Live (not zombie) processes whose command line matches `pattern`. */
function liveProcesses(pattern: RegExp): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
        return pattern.test(readFileSync(`/proc/${p}/cmdline`, 'utf8')) && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
      } catch {
        return false;
      }
    })
    .map(Number);
}

/**
 * The Actions of a daemon on a real repository with `config` set, and the remote one commit ahead
 * (already fetched), so a pull has something to fast-forward. Recorded: warnings and log lines.
 */
async function actionsOn(t: T, config: Record<string, string>, hook?: string) {
  const { Actions } = await import('../src/actions/index.js');
  const { findRepo, loadConfig } = await import('../src/config.js');
  const fx = makeFixture();
  for (const [key, value] of Object.entries(config)) git(fx.local, 'config', key, value);
  if (hook) writeFileSync(join(fx.local, '.git', 'hooks', 'post-merge'), `#!/bin/sh\n${hook}\n`, { mode: 0o755 });
  const repo = await findRepo(fx.local);
  const warned: string[] = [];
  const logged: string[] = [];
  const actions = new Actions({ repo, warn: (remote, text) => warned.push(`${remote} ${text}`), log: (text) => logged.push(text) });
  actions.configure(await loadConfig(repo));
  t.after(async () => {
    await actions.stop();
    for (const pid of liveProcesses(/sleep\0(95|96)\.5/)) process.kill(pid, 'SIGKILL');
    fx.cleanup();
  });
  const sha = pushCommit(fx.pusher);
  git(fx.local, 'fetch', '-q', 'origin');
  return { fx, actions, warned, logged, sha };
}

/** Resolves with how long `work` took, or rejects once it takes longer than `limitMs`. */
async function within(limitMs: number, work: Promise<unknown>, what: string): Promise<number> {
  const start = Date.now();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took over ${limitMs} ms`)), limitMs)))]);
  clearTimeout(timer);
  return Date.now() - start;
}

test('a post-merge hook that hangs is killed with its children after afterFetchTimeout; later actions still run', async (t) => {
  const { fx, actions, warned, sha } = await actionsOn(
    t,
    { 'remote.origin.remotedaemon-pull': 'ff-only', 'remotedaemon.afterFetchTimeout': '0.5' },
    'if [ -e hang ]; then sleep 95.5 & exec sleep 96.5; fi',
  );
  writeFileSync(join(fx.local, 'hang'), ''); // the hook runs in the top directory
  actions.fetched('origin', true, []);
  await within(5000, actions.idle(), 'the fast-forward with a hanging hook');
  assert.deepEqual(warned, ['origin fast-forward: git merge did not finish within 0.5 s (a hook that hangs?); killed it']);
  await eventually(() => liveProcesses(/sleep\0(95|96)\.5/).length === 0, 'the hook and its background child are gone');
  assert.equal(git(fx.local, 'rev-parse', 'HEAD'), sha, 'the merge itself was done before the hook ran');

  // The queue is not stuck: the next fetch's fast-forward runs.
  rmSync(join(fx.local, 'hang'));
  const next = pushCommit(fx.pusher);
  git(fx.local, 'fetch', '-q', 'origin');
  actions.fetched('origin', true, []);
  await within(5000, actions.idle(), 'the next fast-forward');
  assert.equal(git(fx.local, 'rev-parse', 'HEAD'), next);
});

test('stop() kills a fast-forward whose hook hangs, at once, instead of waiting for it', async (t) => {
  const { fx, actions, warned } = await actionsOn(t, { 'remote.origin.remotedaemon-pull': 'ff-only' }, 'touch hook-started; sleep 95.5 & exec sleep 96.5');
  actions.fetched('origin', true, []);
  await eventually(() => existsSync(join(fx.local, 'hook-started')) && liveProcesses(/sleep\0(95|96)\.5/).length === 2, 'the hook is running');
  const took = await within(3000, actions.stop(), 'stop()');
  assert.ok(took < 1500, `stop() took ${took} ms`);
  assert.deepEqual(liveProcesses(/sleep\0(95|96)\.5/), [], 'the hook and its child were killed before stop() resolved');
  assert.deepEqual(warned, [], 'being stopped is not a failure to warn about');
});

test('fetches that end while a pull is waiting add no second pull for the same remote', async (t) => {
  const { fx, actions, warned, logged } = await actionsOn(t, { 'remote.origin.remotedaemon-pull': 'ff-only' });
  writeFileSync(join(fx.local, 'README'), 'a local change\n');
  git(fx.local, 'add', 'README');
  for (let i = 0; i < 20; i++) actions.fetched('origin', true, []);
  await within(10_000, actions.idle(), 'the queued pulls');
  assert.deepEqual(warned, ['origin not fast-forwarding: the working tree or index has local changes']);
  assert.deepEqual(logged.filter((l) => l.includes('still not fast-forwarding')), [], 'one pull ran, not twenty');
});
