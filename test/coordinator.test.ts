// The coordinator in-process: workers that crash cost only their own remote.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Coordinator } from '../src/coordinator.js';
import { findRepo } from '../src/config.js';
import { formatEmitted, type Emitted } from '../src/protocol.js';
import { misbehaving, type Misbehaviour } from './support/misbehavingsession.js';
import { makeFixture, git, pushCommit, refValue, commit } from './support/git.js';
import { eventually } from './support/daemon.js';
import { commandsIn, processesIn } from './support/procs.js';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

const commandsOf = (dir: string, what: string) => commandsIn(dir, what).length;

for (const how of ['throw', 'reject', 'oom'] as Misbehaviour['how'][]) {
  test(`a worker that dies (${how}) is restarted while the other remote keeps syncing`, async (t) => {
    const fx = makeFixture();
    const second = join(fx.root, 'second.git');
    git(fx.root, 'clone', '-q', '--bare', fx.remote, second);
    git(fx.local, 'remote', 'add', 'second', second);
    git(fx.local, 'fetch', '-q', 'second');
    const lines: string[] = [];
    const repo = await findRepo(fx.local);
    const coordinator = new Coordinator({
      repo,
      emit: (m: Emitted) => lines.push(formatEmitted(m)),
      log: () => {},
      env: {},
      sessionFile: misbehaving(repo.gitDir, { origin: { afterMs: 300, how } }),
      restartBackoff: { initialMs: 100, maxMs: 200 },
    });
    t.after(async () => {
      await coordinator.stop();
      fx.cleanup();
    });
    await coordinator.start();
    await eventually(() => lines.includes('CONNECTED origin') && lines.includes('CONNECTED second'), 'both connected');
    await eventually(() => lines.some((l) => l.startsWith('WARNING origin worker failed')), 'the crash is reported', 20_000);
    const crashAt = lines.findIndex((l) => l.startsWith('WARNING origin worker failed'));
    assert.ok(lines.slice(0, crashAt).includes('DISCONNECTED origin') || lines.slice(crashAt).includes('DISCONNECTED origin'));
    // The other remote keeps syncing while origin is down or restarting.
    const sha = commit(fx.pusher);
    git(fx.pusher, 'push', '-q', second, 'HEAD:refs/heads/main');
    await eventually(() => refValue(fx.local, 'refs/remotes/second/main') === sha, 'second still syncs');
    await eventually(() => lines.filter((l) => l === 'CONNECTED origin').length === 2, 'origin restarted', 10_000);
    const sha2 = pushCommit(fx.pusher);
    await eventually(() => refValue(fx.local, 'refs/remotes/origin/main') === sha2, 'the restarted origin syncs');
    assert.equal(lines.filter((l) => l === 'DISCONNECTED second').length, 0, `second was never touched: ${lines.join(' | ')}`);
    await coordinator.stop();
    await eventually(() => processesIn(fx.local).length === 0, 'nothing left running', 2000);
  });
}

test('whatever a worker prints never reaches the protocol stream', async (t) => {
  const fx = makeFixture();
  const logged: string[] = [];
  const lines: string[] = [];
  const repo = await findRepo(fx.local);
  const coordinator = new Coordinator({
    repo,
    emit: (m: Emitted) => lines.push(formatEmitted(m)),
    log: (text) => logged.push(text),
    env: {},
    sessionFile: misbehaving(repo.gitDir, { origin: { afterMs: 0, how: 'print' } }),
  });
  t.after(async () => {
    await coordinator.stop();
    fx.cleanup();
  });
  // Capture this process's real stdout while the worker runs.
  const written: string[] = [];
  const original = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
    written.push(String(chunk));
    return (original as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stdout.write;
  t.after(() => {
    process.stdout.write = original;
  });
  await coordinator.start();
  await eventually(() => logged.some((l) => l.includes('to stderr')), 'the prints reach the log');
  assert.ok(logged.some((l) => l === 'origin: printed: CONNECTED fake'));
  assert.deepEqual(written.filter((w) => w.includes('fake') || w.includes('half a line')), []);
});

async function coordinatorFor(t: { after(fn: () => unknown): void }, fx: ReturnType<typeof makeFixture>, extra: Partial<ConstructorParameters<typeof Coordinator>[0]> = {}) {
  const lines: string[] = [];
  const logged: string[] = [];
  const coordinator = new Coordinator({
    repo: await findRepo(fx.local),
    emit: (m: Emitted) => lines.push(formatEmitted(m)),
    log: (text) => logged.push(text),
    env: {},
    restartBackoff: { initialMs: 100, maxMs: 200 },
    ...extra,
  });
  t.after(async () => {
    await coordinator.stop();
    fx.cleanup();
  });
  return { coordinator, lines, logged };
}

test('a failure while applying a RELOAD is logged, and later RELOADs still apply', async (t) => {
  const fx = makeFixture();
  let configs = 0;
  const { coordinator, lines, logged } = await coordinatorFor(t, fx, {
    onConfig: () => {
      if (++configs === 2) throw new Error('boom while applying');
    },
  });
  await coordinator.start();
  await eventually(() => lines.includes('CONNECTED origin'), 'connected');
  await coordinator.reload(); // throws inside apply()
  assert.ok(logged.some((l) => l.includes('boom while applying')), logged.join('\n'));
  const second = join(fx.root, 'second.git');
  git(fx.root, 'clone', '-q', '--bare', fx.remote, second);
  git(fx.local, 'remote', 'add', 'second', second);
  await coordinator.reload();
  await eventually(() => lines.includes('CONNECTED second'), 'the later RELOAD applied');
});

test('a worker that dies mid-fetch owes a DONESYNCING 0, its git is killed, and the restart catches up', async (t) => {
  const fx = makeFixture();
  // The remote's upload-pack waits at a gate: the catch-up fetch is surely running when the worker dies.
  const gate = join(fx.root, 'gate');
  const slow = join(fx.root, 'slow-upload-pack');
  writeFileSync(slow, `#!/bin/sh\nwhile [ ! -e ${gate} ]; do sleep 0.01; done\nexec git-upload-pack "$@"\n`, { mode: 0o755 });
  git(fx.local, 'config', 'remote.origin.uploadpack', slow);
  const sha = pushCommit(fx.pusher);
  const { coordinator, lines } = await coordinatorFor(t, fx, { sessionFile: misbehaving(join(fx.local, '.git'), { origin: { afterMs: 400, how: 'throw' } }) });
  await coordinator.start();
  await eventually(() => lines.includes('SYNCING origin'), 'the catch-up fetch started');
  await eventually(() => lines.includes('DONESYNCING origin 0'), 'the fetch it owed is reported failed', 10_000);
  const at = lines.indexOf('DONESYNCING origin 0');
  assert.deepEqual(lines.slice(0, at + 2), ['CONNECTED origin', 'SYNCING origin', 'DONESYNCING origin 0', 'DISCONNECTED origin']);
  await eventually(() => commandsOf(fx.root, 'slow-upload-pack') === 0, 'the stuck fetch was killed with the worker', 5000);
  writeFileSync(gate, '');
  await eventually(() => refValue(fx.local, 'refs/remotes/origin/main') === sha, 'the restarted worker caught up', 10_000);
});

test('a worker that ignores STOP is terminated within the grace period', async (t) => {
  const fx = makeFixture();
  const { coordinator, lines, logged } = await coordinatorFor(t, fx, { sessionFile: misbehaving(join(fx.local, '.git'), { origin: { afterMs: 200, how: 'hang' } }) });
  await coordinator.start();
  await eventually(() => lines.includes('CONNECTED origin'), 'connected');
  // The worker cannot say it is spinning, but the kernel can: one of our threads stays runnable.
  await aThreadSpins('the worker spinning in its hang', 250);
  const began = Date.now();
  await coordinator.stop();
  assert.ok(Date.now() - began < 3000, `stopped in ${Date.now() - began} ms`);
  assert.ok(logged.some((l) => /did not stop in time; terminating/.test(l)), logged.join('\n'));
  assert.equal(lines.at(-1), 'DISCONNECTED origin', 'the gate closed what the worker could not');
});

/**
 * Waits until a thread of this process other than the main one has been runnable (state R in
 * /proc/self/task/<tid>/stat) for `forMs` straight: a worker thread stuck in a busy loop. Idle
 * threads (an idle worker, libuv's pool, the GC's helpers) sleep in state S.
 */
async function aThreadSpins(what: string, forMs: number, timeoutMs = 10_000): Promise<void> {
  const runnableSince = new Map<string, number>();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = Date.now();
    for (const tid of readdirSync('/proc/self/task')) {
      if (tid === String(process.pid)) continue;
      let stat: string;
      try {
        stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      } catch {
        continue; // the thread ended
      }
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state !== 'R') runnableSince.delete(tid);
      else if (now - (runnableSince.get(tid) ?? runnableSince.set(tid, now).get(tid)!) >= forMs) return;
    }
    assert.ok(now < deadline, `timed out after ${timeoutMs} ms waiting for ${what}: no thread stayed runnable for ${forMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
