// The kit's process groups: exit status and bounded captures, SIGTERM before SIGKILL, the whole
// group ended on timeout or abort, background leftovers of a normal exit left alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { killGroups, runInGroup } from '../../shared/kit/group.js';
import { tempDir } from '../support/git.js';
import { eventually } from '../support/daemon.js';
import { alive } from '../support/procs.js';

const sh = (script: string, run: Partial<Parameters<typeof runInGroup>[2]> = {}) => runInGroup('/bin/sh', ['-c', script], { timeoutMs: 60_000, ...run });

test('exit code, stdin, separate and combined captures', async () => {
  const result = await sh('cat; echo err >&2; exit 3', { input: 'in\n' });
  assert.equal(result.code, 3);
  assert.equal(result.exitSignal, null);
  assert.equal(result.killedFor, undefined);
  assert.equal(result.stdout, 'in\n');
  assert.equal(result.stderr, 'err\n');
  assert.equal(result.output, 'in\nerr\n');
});

test('captures are bounded', async () => {
  const result = await sh('head -c 200000 /dev/zero | tr "\\0" a; head -c 200000 /dev/zero | tr "\\0" b >&2', { maxOutput: 1000 });
  assert.equal(result.code, 0);
  assert.equal(result.stdout, 'a'.repeat(1000));
  assert.equal(result.stderr, 'b'.repeat(1000));
  assert.equal(result.output.length, 1000);
});

test('a program that cannot start is an error, not an exception', async () => {
  const result = await runInGroup('/nonexistent/program', [], { timeoutMs: 60_000 });
  assert.ok(result.error);
  assert.equal(result.code, null);
});

test('on timeout the group gets SIGTERM first, and what outlives the leader is killed', async (t) => {
  const dir = tempDir();
  t.after(() => dir.cleanup());
  const termed = join(dir.path, 'termed');
  const pidFile = join(dir.path, 'pid');
  // The background sleep ignores SIGTERM (as a hook might), so only the SIGKILL after the leader's exit ends it.
  const script = `(trap '' TERM; exec sleep 96.5) & echo $! > ${pidFile}; trap 'touch ${termed}; exit 1' TERM; while :; do sleep 0.05; done`;
  const result = await sh(script, { timeoutMs: 300, describeTimeout: 'too slow', graceMs: 30_000 });
  assert.equal(result.killedFor, 'too slow');
  assert.ok(existsSync(termed), 'the leader saw SIGTERM');
  const pid = Number(readFileSync(pidFile, 'utf8'));
  await eventually(() => !alive(pid), 'the background process is gone');
});

test('a group that ignores SIGTERM gets SIGKILL after the grace', async (t) => {
  const dir = tempDir();
  t.after(() => dir.cleanup());
  const started = Date.now();
  const result = await sh(`trap '' TERM; sleep 95.5`, { timeoutMs: 100, graceMs: 300 });
  assert.match(result.killedFor ?? '', /timed out after 0.1 s/);
  assert.equal(result.exitSignal, 'SIGKILL');
  assert.ok(Date.now() - started >= 400, 'not before the grace');
});

test('abort ends the group; an already aborted signal ends it at once', async () => {
  const controller = new AbortController();
  const running = sh('echo started; exec sleep 94.5', { signal: controller.signal, describeAbort: 'stopping' });
  controller.abort();
  const result = await running;
  assert.equal(result.killedFor, 'stopping');
  assert.equal(result.exitSignal, 'SIGTERM');

  const again = await sh('exec sleep 94.5', { signal: AbortSignal.abort() });
  assert.equal(again.killedFor, 'stopped');
});

test('a normal exit resolves without waiting for a background process holding the pipes, and leaves it alone', async (t) => {
  const result = await sh('sleep 93.5 & echo $!', { timeoutMs: 60_000 });
  const pid = Number(result.stdout.trim());
  t.after(() => {
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  });
  assert.equal(result.code, 0);
  assert.equal(result.killedFor, undefined);
  assert.ok(alive(pid), 'left running');
  // It is still in the group the leader was started in: one signal to that group ends it.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const group = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
  assert.notEqual(group, process.pid);
  killGroups([group, 0x3ffffff], 'SIGKILL'); // the second does not exist: no throw
  await eventually(() => !alive(pid), 'killed through its group');
});
