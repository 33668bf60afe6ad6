// The after-fetch actions' settings and queue (src/actions/index.ts), without a daemon: a
// repository with no work tree (its fast-forward is refused before git runs) and commands that
// write to a temporary directory. The daemon-level behaviour is test/actions.test.ts's.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Actions, actionSettings, DEFAULT_AFTER_FETCH_TIMEOUT_SECONDS } from '../../src/actions/index.js';
import { MAX_TIMER_SECONDS, type GitConfig, type LoadedConfig } from '../../src/config.js';
import { DAEMON } from '../../src/protocol.js';
import { tempDir } from '../support/git.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const update = { ref: 'refs/remotes/o/main', old: A, new: B };

const config = (entries: Record<string, string>): GitConfig => new Map(Object.entries(entries).map(([k, v]) => [k, [v]]));
const loaded = (entries: Record<string, string>) => ({ raw: config(entries) }) as LoadedConfig;

/** Actions on a repository without a work tree in a temp dir; what they warn and log. */
function actions(t: TestContext) {
  const d = tempDir('grd-actions-');
  t.after(d.cleanup);
  const warned: string[] = [];
  const logged: string[] = [];
  const a = new Actions({ repo: { cwd: d.path, gitDir: d.path }, warn: (remote, text) => warned.push(`${remote} ${text}`), log: (text) => logged.push(text) });
  t.after(() => a.stop());
  return { a, dir: d.path, warned, logged };
}

test('afterFetch: a blank command is none; afterFetchTimeout in seconds, anything but (0, max] is a problem and the default', () => {
  assert.equal(actionSettings(config({ 'remotedaemon.afterfetch': '  ' })).afterFetch, undefined);
  assert.equal(actionSettings(config({ 'remotedaemon.afterfetch': 'make' })).afterFetch, 'make');
  assert.equal(actionSettings(new Map()).afterFetchTimeoutMs, DEFAULT_AFTER_FETCH_TIMEOUT_SECONDS * 1000);
  for (const [value, ms] of [['0.5', 500], ['90', 90_000], [String(MAX_TIMER_SECONDS), MAX_TIMER_SECONDS * 1000]] as const) {
    const s = actionSettings(config({ 'remotedaemon.afterfetchtimeout': value }));
    assert.deepEqual([s.afterFetchTimeoutMs, s.problems], [ms, []], value);
  }
  for (const bad of ['0', '-1', 'soon', '', 'Infinity', String(MAX_TIMER_SECONDS + 1)]) {
    const s = actionSettings(config({ 'remotedaemon.afterfetchtimeout': bad }));
    assert.equal(s.afterFetchTimeoutMs, DEFAULT_AFTER_FETCH_TIMEOUT_SECONDS * 1000, bad);
    assert.deepEqual(s.problems, [
      { remote: DAEMON, text: `remotedaemon.afterFetchTimeout must be a number of seconds from 0 to ${MAX_TIMER_SECONDS}, not ${JSON.stringify(bad)}; using 60` },
    ]);
  }
});

test('remotedaemon-pull of a remote whose name cannot stand in a protocol line: the daemon speaks of it, its name escaped', () => {
  const s = actionSettings(config({ 'remote.a b\n.remotedaemon-pull': 'rebase', 'remote.x*y.remotedaemon-pull': 'ff-only' }));
  assert.deepEqual(s.problems, [{ remote: DAEMON, text: 'remote.a b\\n.remotedaemon-pull must be ff-only or false, not "rebase"; not pulling' }]);
  assert.deepEqual([...s.pull], ['x*y'], 'still pulled: the name only cannot be said');
});

test('a settings problem is warned once while it lasts, again if it comes back', (t) => {
  const { a, warned } = actions(t);
  const bad = { 'remote.o.remotedaemon-pull': 'rebase' };
  a.configure(loaded(bad));
  a.configure(loaded(bad));
  assert.deepEqual(warned, ['o remote.o.remotedaemon-pull must be ff-only or false, not "rebase"; not pulling']);
  a.configure(loaded({ ...bad, 'remotedaemon.afterfetchtimeout': 'x' }));
  assert.equal(warned.length, 2, 'a new problem beside it is warned; the old one not again');
  a.configure(loaded({}));
  a.configure(loaded(bad));
  assert.equal(warned.length, 3, 'fixed, then back');
});

test('a refused fast-forward is warned once, then only logged; once pulling was turned off and on, warned again', async (t) => {
  const { a, warned, logged } = actions(t);
  const pull = loaded({ 'remote.o.remotedaemon-pull': 'ff-only' });
  a.configure(pull);
  a.fetched('o', true, []); // tried even after a fetch that moved nothing
  await a.idle();
  a.fetched('o', true, [update]);
  await a.idle();
  assert.deepEqual(warned, ['o not fast-forwarding: the repository has no work tree']);
  assert.deepEqual(logged, ['o: still not fast-forwarding: the repository has no work tree']);
  a.configure(loaded({}));
  a.configure(pull);
  a.fetched('o', true, []);
  await a.idle();
  assert.equal(warned.length, 2);
  a.fetched('other', true, [update]);
  await a.idle();
  assert.equal(warned.length + logged.length, 3, 'a remote that does not pull: nothing');
});

test('the command runs for a good fetch that moved refs only; wantsUpdates says whether fetches must report them', async (t) => {
  const { a, dir, warned } = actions(t);
  assert.equal(a.wantsUpdates(), false);
  a.configure(loaded({ 'remotedaemon.afterfetch': 'echo "$GIT_REMOTE_DAEMON_REMOTE" >> ran' }));
  assert.equal(a.wantsUpdates(), true);
  a.fetched('o', false, [update]);
  a.fetched('o', true, []);
  await a.idle();
  assert.equal(existsSync(join(dir, 'ran')), false);
  a.fetched('o', true, [update]);
  a.fetched('p', true, [update]);
  await a.idle();
  assert.equal(readFileSync(join(dir, 'ran'), 'utf8'), 'o\np\n', 'in fetch order');
  assert.deepEqual(warned, []);
});

test('a failing command is warned with its last line of output; its output goes to the log', async (t) => {
  const { a, warned, logged } = actions(t);
  a.configure(loaded({ 'remotedaemon.afterfetch': 'echo first; echo last >&2; exit 4' }));
  a.fetched('o', true, [update]);
  await a.idle();
  assert.deepEqual(warned, ['o afterFetch command failed: exit code 4: last']);
  assert.equal(logged.length, 1);
  assert.match(logged[0], /^o: afterFetch: (first\nlast|last\nfirst)$/);
});

test('after stop(): what is queued does not run, and later fetches queue nothing', async (t) => {
  const { a, dir, warned } = actions(t);
  a.configure(loaded({ 'remotedaemon.afterfetch': 'if [ "$GIT_REMOTE_DAEMON_REMOTE" = o ]; then exec sleep 30; fi; touch "ran-$GIT_REMOTE_DAEMON_REMOTE"' }));
  a.fetched('o', true, [update]); // runs: stop kills it
  a.fetched('p', true, [update]); // queued behind it: never runs
  await a.stop();
  a.fetched('q', true, [update]);
  await a.idle();
  assert.deepEqual(readdirSync(dir), []);
  assert.deepEqual(warned, [], 'killed by the stop: no warning');
});
