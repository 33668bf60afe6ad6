import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Fetcher } from '../../workers/fetcher.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeFixture, pushCommit, refValue, git } from '../support/git.js';
import { eventually } from '../support/daemon.js';
import { alive } from '../support/procs.js';
import type { DirectFetchRequest, DirectFetchResult } from '../../shared/transport.js';

test('one run is one git fetch: SYNCING when it starts, its outcome when it ends', async (t) => {
  const fx = makeFixture();
  t.after(fx.cleanup);
  const events: string[] = [];
  const fetcher = new Fetcher({ remote: 'origin', cwd: fx.local, plan: async () => ({}), writeFetchHead: false, onStart: () => events.push('start') });
  const sha = pushCommit(fx.pusher);
  const outcome = await fetcher.run();
  assert.equal(outcome?.ok, true, outcome?.stderr);
  assert.deepEqual(events, ['start']);
  assert.equal(fetcher.count, 1);
  assert.equal(refValue(fx.local, 'refs/remotes/origin/main'), sha);
});

test('no fetch plan means not connected: no fetch and no SYNCING', async (t) => {
  const fx = makeFixture();
  t.after(fx.cleanup);
  const events: string[] = [];
  const fetcher = new Fetcher({ remote: 'origin', cwd: fx.local, plan: async () => undefined, writeFetchHead: false, onStart: () => events.push('start') });
  pushCommit(fx.pusher);
  assert.equal(await fetcher.run(), undefined);
  assert.deepEqual(events, []);
  assert.equal(fetcher.count, 0);
});

test('a failing fetch reports its stderr', async (t) => {
  const fx = makeFixture();
  t.after(fx.cleanup);
  let outcome: { ok: boolean; stderr: string } | undefined;
  const fetcher = new Fetcher({ remote: 'nonexistent', cwd: fx.local, plan: async () => ({}), writeFetchHead: false, onStart() {} });
  outcome = await fetcher.run();
  assert.equal(outcome?.ok, false);
  assert.match(outcome?.stderr ?? '', /nonexistent/);
});

test('a fetch that receives nothing for the stall time is ended, with everything it started, and fails saying so', async (t) => {
  const fx = makeFixture();
  t.after(fx.cleanup);
  // An upload-pack that never answers: git waits for the ref advertisement that never comes.
  const silent = join(fx.root, 'silent-upload-pack');
  writeFileSync(silent, '#!/bin/sh\necho $$ > "$PIDFILE"\nexec sleep 600\n', { mode: 0o755 });
  git(fx.local, 'config', 'remote.origin.uploadpack', silent);
  const pidFile = join(fx.root, 'pid');
  let outcome: { ok: boolean; stderr: string } | undefined;
  const fetcher = new Fetcher({ remote: 'origin', cwd: fx.local, plan: async () => ({ env: { PIDFILE: pidFile } }), writeFetchHead: false, stallMs: () => 700, onStart() {} });
  const started = Date.now();
  outcome = await fetcher.run();
  const took = Date.now() - started;
  assert.equal(outcome?.ok, false);
  assert.match(outcome!.stderr, /the remote sent nothing for 0\.7 s; the fetch was ended \(remotedaemon\.fetchStallTimeout\)/);
  assert.ok(took >= 700 && took < 5000, `ended after ${took} ms`);
  const { readFileSync } = await import('node:fs');
  const pid = Number(readFileSync(pidFile, 'utf8'));
  await eventually(() => !alive(pid), 'the silent upload-pack was ended too');
});

test('an endless stderr line from the remote side is read in chunks: a bounded tail is kept, memory stays flat', async (t) => {
  const fx = makeFixture();
  t.after(fx.cleanup);
  // 256 MB on stderr without one newline, then a failure: what a hostile server's sideband can do.
  const noisy = join(fx.root, 'noisy-upload-pack');
  writeFileSync(noisy, '#!/bin/sh\nhead -c 268435456 /dev/zero | tr "\\0" x >&2\necho "fatal: the end" >&2\nexit 1\n', { mode: 0o755 });
  git(fx.local, 'config', 'remote.origin.uploadpack', noisy);
  let outcome: { ok: boolean; stderr: string } | undefined;
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const fetcher = new Fetcher({ remote: 'origin', cwd: fx.local, plan: async () => ({}), writeFetchHead: false, onStart() {} });
  outcome = await fetcher.run();
  clearInterval(sampler);
  t.diagnostic(`RSS ${Math.round(before / 2 ** 20)} MB before, peak ${Math.round(peak / 2 ** 20)} MB while 256 MB of stderr streamed past`);
  assert.equal(outcome?.ok, false);
  assert.ok(outcome!.stderr.length <= 64 * 1024, `kept ${outcome!.stderr.length} characters`);
  assert.match(outcome!.stderr, /fatal: the end/);
  assert.ok(peak - before < 64 * 2 ** 20, `RSS grew by ${Math.round((peak - before) / 2 ** 20)} MB`);
});

// A plan's direct fetch (ssh: workers/direct/) is tried before git fetch. These drive the Fetcher
// with a stand-in for it: what it is given, and what the Fetcher does with each answer.
function directFixture(t: { after(fn: () => unknown): void }) {
  const fx = makeFixture();
  t.after(fx.cleanup);
  const logs: string[] = [];
  const requests: DirectFetchRequest[] = [];
  let answer: (request: DirectFetchRequest) => Promise<DirectFetchResult> = async () => ({ carried: true, report: 'From here\n * [new branch]      x -> origin/x' });
  const fetcher = new Fetcher({
    remote: 'origin',
    url: 'ssh://h/r',
    cwd: fx.local,
    gitDir: join(fx.local, '.git'),
    plan: async () => ({ direct: (request) => (requests.push(request), answer(request)) }),
    writeFetchHead: false,
    stallMs: () => 600,
    onStart() {},
    log: (text) => logs.push(text),
  });
  return { fx, fetcher, logs, requests, answer: (fn: typeof answer) => (answer = fn) };
}

test('a direct fetch that carries the fetch out is the outcome: no git fetch runs, its report is the stderr', async (t) => {
  const { fx, fetcher, requests } = directFixture(t);
  pushCommit(fx.pusher);
  const before = refValue(fx.local, 'refs/remotes/origin/main');
  const outcome = await fetcher.run();
  assert.deepEqual(outcome, { ok: true, stderr: 'From here\n * [new branch]      x -> origin/x', updates: [] });
  assert.equal(refValue(fx.local, 'refs/remotes/origin/main'), before, 'git fetch did not run');
  assert.deepEqual(
    requests.map((r) => [r.remote, r.url, r.cwd, r.gitDir, r.writeFetchHead]),
    [['origin', 'ssh://h/r', fx.local, join(fx.local, '.git'), false]],
  );
});

test('a direct fetch that gives way runs git fetch, and its reason is logged once until it changes', async (t) => {
  const { fx, fetcher, logs, answer } = directFixture(t);
  answer(async () => ({ carried: false, why: 'the remote has tag refs/tags/v1, which is not here' }));
  for (let i = 0; i < 2; i++) {
    const sha = pushCommit(fx.pusher);
    const outcome = await fetcher.run();
    assert.equal(outcome?.ok, true, outcome?.stderr);
    assert.equal(refValue(fx.local, 'refs/remotes/origin/main'), sha, 'git fetch ran');
  }
  answer(async () => ({ carried: false, why: 'pruneTags is on' }));
  await fetcher.run();
  assert.deepEqual(logs, ['fetching with git fetch: the remote has tag refs/tags/v1, which is not here', 'fetching with git fetch: pruneTags is on']);
});

test('a direct fetch is ended by cancel, by stop and by silence past the stall time, and git fetch does not run after it', async (t) => {
  const { fx, fetcher, answer, requests } = directFixture(t);
  const endsWithSignal = (request: DirectFetchRequest) =>
    new Promise<DirectFetchResult>((_, reject) => request.signal.addEventListener('abort', () => reject(request.signal.reason), { once: true }));
  answer(endsWithSignal);
  const sha = pushCommit(fx.pusher);
  const before = refValue(fx.local, 'refs/remotes/origin/main');
  const stalled = await fetcher.run();
  assert.equal(stalled?.ok, false);
  assert.match(stalled!.stderr, /the remote sent nothing for 0\.6 s/);
  // Data from the server starts the stall time again: a fetch that keeps receiving is not ended.
  answer((request) => {
    const timer = setInterval(() => request.onData(), 100);
    return new Promise((resolve) => setTimeout(() => (clearInterval(timer), resolve({ carried: true, report: '' })), 1000));
  });
  assert.equal((await fetcher.run())?.ok, true);
  answer(endsWithSignal);
  const running = fetcher.run();
  await eventually(() => requests.length === 3, 'the third run to start its direct fetch');
  await fetcher.cancel('the connection is gone');
  const cancelled = await running;
  assert.deepEqual([cancelled?.ok, cancelled?.cancelled, cancelled?.stderr], [false, true, 'error: the fetch was ended: the connection is gone']);
  const stopping = fetcher.run();
  await eventually(() => requests.length === 4, 'the fourth run to start its direct fetch');
  fetcher.stop();
  assert.equal((await stopping)?.ok, false);
  assert.equal(refValue(fx.local, 'refs/remotes/origin/main'), before, `git fetch never ran (${sha} not fetched)`);
});

test('a cancel before the run started anything (asking for its plan, reading the refs) starts nothing: no SYNCING while asking, cancelled while reading', async (t) => {
  const fx = makeFixture();
  t.after(fx.cleanup);
  const before = refValue(fx.local, 'refs/remotes/origin/main');
  pushCommit(fx.pusher);
  const events: string[] = [];
  let planAsked!: () => void;
  let givePlan!: () => void;
  const asked = new Promise<void>((resolve) => (planAsked = resolve));
  const fetcher = new Fetcher({
    remote: 'origin',
    cwd: fx.local,
    writeFetchHead: false,
    onStart: () => events.push('start'),
    plan: () => {
      planAsked();
      return new Promise((resolve) => (givePlan = () => resolve({})));
    },
    snapshot: () => async () => {
      events.push('snapshot');
      await snapshotGate;
      return new Map();
    },
  });
  let openSnapshot!: () => void;
  const snapshotGate = new Promise<void>((resolve) => (openSnapshot = resolve));
  // Cancelled while it asks for its plan: the connection went, so no fetch at all.
  const asking = fetcher.run();
  await asked;
  const cancelledAsking = fetcher.cancel('the connection is gone');
  givePlan();
  await cancelledAsking;
  assert.equal(await asking, undefined);
  assert.equal(events.join(), '', 'no SYNCING, no reading');
  // Cancelled while it reads the refs (SYNCING said): it ends cancelled, git fetch never runs.
  const reading = fetcher.run();
  givePlan();
  await eventually(() => events.includes('snapshot'), 'the run to read the refs');
  assert.deepEqual(events, ['start', 'snapshot']);
  const cancelledReading = fetcher.cancel('the connection is gone');
  openSnapshot();
  await cancelledReading;
  const outcome = await reading;
  assert.deepEqual([outcome?.ok, outcome?.cancelled, outcome?.stderr], [false, true, 'error: the fetch was ended: the connection is gone']);
  assert.equal(refValue(fx.local, 'refs/remotes/origin/main'), before, 'git fetch never ran');
  // The next run is made as usual.
  const next = fetcher.run();
  givePlan();
  assert.equal((await next)?.ok, true);
  assert.notEqual(refValue(fx.local, 'refs/remotes/origin/main'), before);
});
