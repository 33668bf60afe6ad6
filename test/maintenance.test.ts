// The maintenance schedule against a fake clock and a fake `git maintenance run`: when it runs,
// how often, and never when maintenance.auto is false. test/maintenance-e2e.test.ts proves the
// real thing end to end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAINTENANCE_EVERY_MS, Maintenance, maintenanceSettings } from '../src/maintenance.js';
import type { GroupResult } from '../shared/kit/group.js';

class FakeClock {
  now = 0;
  private timers: { at: number; fn: () => void; cancelled: boolean }[] = [];
  set = (fn: () => void, ms: number): (() => void) => {
    const timer = { at: this.now + ms, fn, cancelled: false };
    this.timers.push(timer);
    return () => (timer.cancelled = true);
  };
  /** Moves time on, firing what falls due in order. */
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      const next = this.timers.filter((t) => !t.cancelled && t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      next.cancelled = true;
      this.now = next.at;
      next.fn();
    }
    this.now = end;
  }
}

const OK: GroupResult = { code: 0, exitSignal: null, stdout: '', stderr: '', output: '' };

function scheduled(quietSeconds = 60, config: [string, string][] = []) {
  const clock = new FakeClock();
  const runs: { at: number; finish: () => void; signal: AbortSignal }[] = [];
  const logs: string[] = [];
  const m = new Maintenance({
    cwd: '/nonexistent',
    log: (text) => logs.push(text),
    now: () => clock.now,
    setTimer: clock.set,
    run: (_cwd, signal) => new Promise((resolve) => runs.push({ at: clock.now, finish: () => resolve(OK), signal })),
  });
  m.configure(maintenanceSettings(new Map(config.map(([k, v]) => [k, [v]])), quietSeconds));
  return { clock, runs, logs, m };
}

const settle = () => new Promise((r) => setImmediate(r));

test('runs once the remotes have been quiet for the quiet time after the last fetch', () => {
  const { clock, runs, m } = scheduled(60);
  clock.advance(10_000);
  assert.equal(runs.length, 0, 'nothing before any fetch');
  m.fetched();
  clock.advance(59_000);
  m.fetched(); // another fetch: the quiet starts again
  clock.advance(59_000);
  assert.equal(runs.length, 0, 'not while fetches keep coming');
  clock.advance(1_000);
  assert.equal(runs.length, 1);
  assert.equal(runs[0]!.at, 10_000 + 59_000 + 60_000);
});

test('fetches of many remotes cost one run, and the next comes no sooner than a few minutes later', async () => {
  const { clock, runs, m } = scheduled(60);
  for (let i = 0; i < 10; i++) m.fetched(); // ten remotes fetched at once
  clock.advance(60_000);
  assert.equal(runs.length, 1);
  runs[0]!.finish();
  await settle();
  m.fetched();
  clock.advance(60_000);
  assert.equal(runs.length, 1, 'quiet again, but the last run is only a minute old');
  clock.advance(MAINTENANCE_EVERY_MS - 120_000);
  assert.equal(runs.length, 1);
  clock.advance(60_000);
  assert.equal(runs.length, 2);
  assert.equal(runs[1]!.at - runs[0]!.at, MAINTENANCE_EVERY_MS);
  runs[1]!.finish();
  await settle();
  clock.advance(10 * MAINTENANCE_EVERY_MS);
  assert.equal(runs.length, 2, 'no fetch since: no run');
});

test('a fetch during a run earns one more run after it, never two at once', async () => {
  const { clock, runs, m } = scheduled(1);
  m.fetched();
  clock.advance(1_000);
  assert.equal(runs.length, 1);
  m.fetched();
  clock.advance(MAINTENANCE_EVERY_MS * 2);
  assert.equal(runs.length, 1, 'the first is still running');
  runs[0]!.finish();
  await settle();
  clock.advance(0);
  assert.equal(runs.length, 2);
});

test('maintenance.auto=false: never runs, and says so', () => {
  const { clock, runs, logs, m } = scheduled(60, [['maintenance.auto', 'false']]);
  m.fetched();
  clock.advance(MAINTENANCE_EVERY_MS * 3);
  m.fetched();
  clock.advance(MAINTENANCE_EVERY_MS * 3);
  assert.equal(runs.length, 0);
  assert.deepEqual(logs, ['maintenance: not run, maintenance.auto is false', 'maintenance: not run, maintenance.auto is false']);
  assert.equal(maintenanceSettings(new Map([['maintenance.auto', ['0']]]), 1).enabled, false, "git's other false spellings too");
  assert.equal(maintenanceSettings(new Map(), 1).enabled, true, 'on by default, as in git');
});

test('stop ends a running maintenance and schedules no more', async () => {
  const { clock, runs, m } = scheduled(1);
  m.fetched();
  clock.advance(1_000);
  assert.equal(runs.length, 1);
  const stopped = m.stop();
  assert.equal(runs[0]!.signal.aborted, true);
  runs[0]!.finish();
  await stopped;
  m.fetched();
  clock.advance(MAINTENANCE_EVERY_MS * 2);
  assert.equal(runs.length, 1);
});
