// Local remotes: push-to-fetched latency next to its floor (a plain `git fetch` of the same change,
// measured right after each push), and the daemon's memory with 1 and 10 remotes.
//
//   node dist/bench/local.js          (or through `npm run bench`)
//   node dist/bench/local.js latency  (the latency alone)

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { makeFixture, git, commit } from '../test/support/git.js';
import { startDaemon, type RunningDaemon } from '../test/support/daemon.js';
import { memoryOf, pssMb, tree } from './procfs.js';
import { median, pairedRatio, report, spread } from './report.js';

function pushAsync(cwd: string): Promise<void> {
  return new Promise((resolve, reject) =>
    spawn('git', ['push', '-q', 'origin', 'HEAD:refs/heads/main'], { cwd, stdio: 'ignore' }).once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`git push exited ${code}`)),
    ),
  );
}

function timedFetch(cwd: string): Promise<number> {
  const start = performance.now();
  return new Promise((resolve, reject) =>
    spawn('git', ['fetch', 'origin'], { cwd, stdio: 'ignore' }).once('exit', (code) =>
      code === 0 ? resolve(performance.now() - start) : reject(new Error(`git fetch exited ${code}`)),
    ),
  );
}

/**
 * Ms from `git push` returning to the daemon's DONESYNCING for that push, over `pushes`; and the
 * floor for each: a plain `git fetch origin` of the same change in a second clone, right after.
 */
export async function localLatency(pushes = 20): Promise<{ ours: number[]; floor: number[] }> {
  const fx = makeFixture();
  const plain = join(fx.root, 'plain');
  git(fx.root, 'clone', '-q', fx.remote, plain);
  const d = startDaemon(fx.local, ['--foreground']);
  try {
    await d.waitFor('CONNECTED origin');
    await timedFetch(plain); // warm
    const ours: number[] = [];
    const floor: number[] = [];
    for (let i = 0; i < pushes; i++) {
      const sha = commit(fx.pusher);
      const from = d.lines.length;
      const fetched = (async () => {
        for (let seen = from; ; ) {
          await d.waitFor('DONESYNCING origin 1', { from: seen });
          const at = performance.now(); // checking the ref below costs a git process
          seen = d.lines.indexOf('DONESYNCING origin 1', seen) + 1;
          if (git(fx.local, 'rev-parse', 'refs/remotes/origin/main') === sha) return at;
        }
      })();
      await pushAsync(fx.pusher);
      const pushed = performance.now();
      ours.push(Math.max(0, (await fetched) - pushed));
      floor.push(await timedFetch(plain));
    }
    return { ours, floor };
  } finally {
    await d.stop();
    fx.cleanup();
  }
}

/** A daemon (started with `args`) with `remotes` local remotes, all CONNECTED, for `body`. */
export async function withLocalRemotes<T>(remotes: number, args: string[], body: (d: RunningDaemon) => Promise<T>): Promise<T> {
  const fx = makeFixture();
  for (let i = 1; i < remotes; i++) {
    const path = join(fx.root, `r${i}.git`);
    git(fx.root, 'clone', '-q', '--bare', fx.remote, path);
    git(fx.local, 'remote', 'add', `r${i}`, path);
    git(fx.local, 'fetch', '-q', `r${i}`);
  }
  const d = startDaemon(fx.local, args);
  try {
    await d.waitForCount(/^CONNECTED /, remotes, 60_000);
    return await body(d);
  } finally {
    await d.stop();
    fx.cleanup();
  }
}

/**
 * Memory of the daemon process (all its worker threads) with `remotes` local remotes, after
 * `quietMs` of nothing happening; `treePssMb` adds its child processes (`children` of them).
 */
export function localMemory(remotes: number, quietMs = 3000): Promise<{ rssMb: number; pssMb: number; treePssMb: number; children: number }> {
  return withLocalRemotes(remotes, ['--foreground'], async (d) => {
    // Let start-up garbage settle: quiet is what a daemon spends most of its life in.
    await new Promise((r) => setTimeout(r, quietMs));
    const pids = tree(d.child.pid!);
    return { ...memoryOf(d.child.pid!), treePssMb: pssMb(pids), children: pids.length - 1 };
  });
}

async function benchLocalLatency(): Promise<void> {
  const { ours, floor } = await localLatency(20);
  report('local remote: push-to-fetched, median of 20', spread(ours));
  report('local remote: floor: plain git fetch of the same change', spread(floor));
  report('local remote: ratio to the floor, median per push (target <= 1.00)', pairedRatio(ours, floor, 1));
}

export async function benchLocal(): Promise<void> {
  await benchLocalLatency();
  const one = await localMemory(1);
  const ten = await localMemory(10);
  report('daemon memory, 1 local remote', `RSS ${one.rssMb.toFixed(1)} MB, PSS ${one.pssMb.toFixed(1)} MB`);
  report('daemon memory, 10 local remotes', `RSS ${ten.rssMb.toFixed(1)} MB, PSS ${ten.pssMb.toFixed(1)} MB (${((ten.pssMb - one.pssMb) / 9).toFixed(1)} MB PSS per added remote)`);
}

if (import.meta.url === `file://${process.argv[1]}`) await (process.argv[2] === 'latency' ? benchLocalLatency() : benchLocal());
