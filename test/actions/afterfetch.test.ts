// The user's after-fetch command (src/actions/afterfetch.ts), run directly with /bin/sh in a temp
// directory: what it is given (environment, post-receive stdin) and how each way of ending is
// reported. The daemon around it is test/actions.test.ts's.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENV_REFS, ENV_REMOTE, runAfterFetch, type AfterFetchRun } from '../../src/actions/afterfetch.js';
import { tempDir } from '../support/git.js';

const ZERO = '0'.repeat(40);
const A = 'a'.repeat(40);
const B = 'b'.repeat(40);

function run(t: TestContext, command: string, more: Partial<AfterFetchRun> = {}): AfterFetchRun & { dir: string } {
  const d = tempDir('grd-afterfetch-');
  t.after(d.cleanup);
  return { command, remote: 'origin', updates: [], cwd: d.path, timeoutMs: 10_000, dir: d.path, ...more };
}

test('the remote and refs arrive in the environment, one post-receive line per ref on stdin, in the repository', async (t) => {
  const r = run(t, `printf '%s|%s|%s' "$${ENV_REMOTE}" "$${ENV_REFS}" "$PWD" > env.txt; cat > stdin.txt`, {
    updates: [
      { ref: 'refs/remotes/origin/main', old: A, new: B },
      { ref: 'refs/remotes/origin/new', old: ZERO, new: A },
      { ref: 'refs/remotes/origin/gone', old: B, new: ZERO },
    ],
  });
  const result = await runAfterFetch(r);
  assert.deepEqual(result, { ok: true, output: '' });
  assert.equal(readFileSync(join(r.dir, 'env.txt'), 'utf8'), `origin|refs/remotes/origin/main refs/remotes/origin/new refs/remotes/origin/gone|${r.dir}`);
  assert.equal(
    readFileSync(join(r.dir, 'stdin.txt'), 'utf8'),
    `${A} ${B} refs/remotes/origin/main\n${ZERO} ${A} refs/remotes/origin/new\n${B} ${ZERO} refs/remotes/origin/gone\n`,
  );
});

test('stdout and stderr come back together; a non-zero exit is a failure that says its code', async (t) => {
  const result = await runAfterFetch(run(t, 'echo out; echo err >&2; exit 7'));
  assert.equal(result.ok, false);
  assert.equal(result.failure, 'exit code 7');
  assert.match(result.output, /out/);
  assert.match(result.output, /err/);
});

test('a command killed by a signal says which', async (t) => {
  const result = await runAfterFetch(run(t, 'kill -KILL $$'));
  assert.deepEqual(result, { ok: false, failure: 'killed by SIGKILL', output: '' });
});

test('a timeout ends it as a failure that says so', async (t) => {
  const result = await runAfterFetch(run(t, 'echo started; exec sleep 30', { timeoutMs: 200 }));
  assert.equal(result.ok, false);
  assert.match(result.failure!, /^timed out after 0\.2 s/);
  assert.match(result.output, /started/);
});

test('stopped with the daemon: the abort ends it and says why', async (t) => {
  const abort = new AbortController();
  const r = run(t, 'echo started; exec sleep 30');
  const running = runAfterFetch(r, abort.signal);
  abort.abort();
  const result = await running;
  assert.equal(result.ok, false);
  assert.equal(result.failure, 'stopped with the daemon');
});

test('a command that cannot be started at all (its directory is gone) is a failure, not a throw', async (t) => {
  const r = run(t, 'true');
  const result = await runAfterFetch({ ...r, cwd: join(r.dir, 'no-such-dir') });
  assert.equal(result.ok, false);
  assert.match(result.failure!, /^could not run it: .*ENOENT/);
});

test('its output is kept to 16 KiB; a command that ignores its stdin is no failure', async (t) => {
  const updates = Array.from({ length: 3000 }, (_, i) => ({ ref: `refs/remotes/origin/b${i}`, old: A, new: B }));
  const result = await runAfterFetch(run(t, "head -c 100000 /dev/zero | tr '\\0' x", { updates }));
  assert.equal(result.ok, true, result.failure);
  assert.ok(result.output.length <= 16 * 1024 + 200, `output of ${result.output.length} characters kept`);
  assert.ok(result.output.length >= 16 * 1024 - 200, `output of ${result.output.length} characters kept`);
});
