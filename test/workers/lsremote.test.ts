// The bounded ref listing (workers/lsremote.ts) against a real local repository and upload-packs
// that stall or never stop: every way a remote can misbehave ends in a bounded time and memory,
// with its group of processes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { LsRemoteFailed, runLsRemote, type LsRemoteRun } from '../../workers/lsremote.js';
import { git, makeFixture, refValue } from '../support/git.js';
import { eventually } from '../support/daemon.js';
import { reaped } from '../support/procs.js';

function options(cwd: string, args: string[], over: Partial<LsRemoteRun> = {}): LsRemoteRun {
  return { cwd, args, env: process.env, signal: new AbortController().signal, timeoutMs: 10_000, maxBytes: 1 << 20, display: 'the remote', ...over };
}

/** An upload-pack that writes its pid and never answers. */
function silentUploadPack(root: string): { path: string; pid: () => number } {
  const path = join(root, 'silent-upload-pack');
  const pidFile = join(root, 'silent.pid');
  writeFileSync(path, `#!/bin/sh\necho $$ > ${pidFile}\nexec sleep 600\n`, { mode: 0o755 });
  return { path, pid: () => Number(readFileSync(pidFile, 'utf8')) };
}

test('lists the refs, peeled tag lines left out', async (t) => {
  const fx = makeFixture();
  t.after(fx.cleanup);
  git(fx.pusher, 'tag', '-a', '-m', 'v1', 'v1');
  git(fx.pusher, 'push', '-q', 'origin', 'v1');
  const refs = await runLsRemote(options(fx.local, ['ls-remote', 'origin']));
  assert.equal(refs.get('refs/heads/main'), refValue(fx.remote, 'refs/heads/main'));
  assert.equal(refs.get('refs/tags/v1'), refValue(fx.remote, 'refs/tags/v1'));
  assert.ok(![...refs.keys()].some((r) => r.endsWith('^{}')));
});

test('a remote that never answers: ended at the deadline, with its upload-pack', async (t) => {
  const fx = makeFixture();
  t.after(fx.cleanup);
  const silent = silentUploadPack(fx.root);
  const started = Date.now();
  await assert.rejects(runLsRemote(options(fx.local, ['ls-remote', `--upload-pack=${silent.path}`, 'origin'], { timeoutMs: 500 })), /gave no answer within 0\.5 s/);
  assert.ok(Date.now() - started < 5000);
  await eventually(() => reaped(silent.pid()), 'the silent upload-pack was ended');
});

test('ended by its signal (the connection closed): rejects with that reason at once', async (t) => {
  const fx = makeFixture();
  t.after(fx.cleanup);
  const silent = silentUploadPack(fx.root);
  const over = new AbortController();
  const listing = runLsRemote(options(fx.local, ['ls-remote', `--upload-pack=${silent.path}`, 'origin'], { signal: over.signal }));
  await eventually(() => {
    try {
      return silent.pid() > 0;
    } catch {
      return false;
    }
  }, 'the upload-pack started');
  over.abort(new Error('the link to the peer was lost'));
  await assert.rejects(listing, /the link to the peer was lost/);
  await eventually(() => reaped(silent.pid()), 'the upload-pack was ended');
});

test('more than maxBytes of refs: refused, not held', async (t) => {
  const fx = makeFixture();
  t.after(fx.cleanup);
  const head = refValue(fx.remote, 'refs/heads/main');
  const input = join(fx.root, 'refs.txt');
  writeFileSync(input, Array.from({ length: 500 }, (_, i) => `create refs/heads/b${i} ${head}\n`).join(''));
  execFileSync('sh', ['-c', `git update-ref --stdin < ${input}`], { cwd: fx.remote });
  await assert.rejects(runLsRemote(options(fx.local, ['ls-remote', 'origin'], { maxBytes: 4096 })), /the ref listing of the remote is over 4096 bytes/);
});

test('git failing: LsRemoteFailed with the tail of what git said', async (t) => {
  const fx = makeFixture();
  t.after(fx.cleanup);
  const failed = await runLsRemote(options(fx.local, ['ls-remote', join(fx.root, 'nowhere')])).catch((err: unknown) => err);
  assert.ok(failed instanceof LsRemoteFailed);
  assert.match(failed.message, /^git ls-remote the remote failed: .*repository exists/);
  assert.match(failed.stderr, /nowhere/);
});
