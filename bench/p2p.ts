// Peers: commit-to-fetched latency over the held link (two daemons on a loopback hyperdht testnet),
// next to the ssh daemon's push-to-fetched in the same run (target: at most 1.3x), and the memory of
// one peer node (the child process the p2p endpoint runs).
//
//   node dist/bench/p2p.js   (measures the ssh figure first; `npm run bench` passes its own)
//
// Where the time goes: the daemons run with GRD_P2P_TIMING set, so the peer nodes, the remote's
// worker and git-remote-p2p mark each stage (workers/p2p/timing.ts); per commit, each stage's
// first mark after it is read back, and the medians are printed in path order.

import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../test/support/git.js';
import { commit } from '../test/support/git.js';
import { logged, twoPeers } from '../test/p2p/support.js';
import { memoryOf } from './procfs.js';
import { median, report, spread, verdict } from './report.js';
import { benchSshLatency } from './ssh.js';

/**
 * `sshMs`: the ssh section's push-to-fetched median from the same run, the floor a peer link is
 * held to (at most 1.3x: a held link to a peer should cost about what a held ssh connection does);
 * measured here first when not given.
 */
export async function benchP2p(sshMs?: number, samplesWanted = 20): Promise<void> {
  sshMs ??= await benchSshLatency();
  const cleanups: (() => unknown)[] = [];
  const dir = tempDir('grd-bench-p2p-');
  cleanups.push(() => dir.cleanup());
  const marks = join(dir.path, 'stages');
  writeFileSync(marks, '');
  const before = process.env.GRD_P2P_TIMING;
  process.env.GRD_P2P_TIMING = marks; // the daemons inherit it
  try {
    const { a, b, da } = await twoPeers({ after: (fn) => cleanups.push(fn) });
    if (before === undefined) delete process.env.GRD_P2P_TIMING;
    else process.env.GRD_P2P_TIMING = before;
    const samples: number[] = [];
    const windows: [number, number][] = [];
    for (let i = 0; i < samplesWanted; i++) {
      await new Promise((r) => setTimeout(r, 100)); // a quiet gap, as the ssh section has
      const from = da.lines.length;
      // Committed: taken before `git commit` starts, as git writes the ref at its very end.
      const committedAt = performance.timeOrigin + performance.now();
      const sha = commit(b, `bench ${i}`);
      const committed = performance.now();
      for (let seen = from; ; ) {
        await da.waitFor('DONESYNCING b 1', { from: seen, timeoutMs: 10_000 });
        seen = da.lines.indexOf('DONESYNCING b 1', seen) + 1;
        if (execFileSync('git', ['rev-parse', 'refs/remotes/b/main'], { cwd: a, encoding: 'utf8' }).trim() === sha) break;
      }
      samples.push(performance.now() - committed);
      windows.push([committedAt, performance.timeOrigin + performance.now()]);
    }
    report(`peer: commit on B to fetched on A over the held link, median of ${samplesWanted}`, spread(samples));
    stageReport(readFileSync(marks, 'utf8'), windows);
    if (sshMs === undefined) report('peer: ratio to ssh push-to-fetched (target <= 1.30)', 'not measured: no ssh figure in this run');
    else report(`peer: ratio to ssh push-to-fetched in this run (${sshMs.toFixed(1)} ms; target <= 1.30)`, verdict(median(samples) / sshMs, 1.3));
    const pid = Number(/peer node up \(pid (\d+)\)/.exec(await logged(da, /peer node up \(pid \d+\)/))![1]);
    await new Promise((r) => setTimeout(r, 3000)); // a quiet node is what a node mostly is
    const mem = memoryOf(pid);
    report('peer node memory (child process, one held link)', `RSS ${mem.rssMb.toFixed(1)} MB, PSS ${mem.pssMb.toFixed(1)} MB`);
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}

/** Stages in path order: [mark, what the time up to it was spent on]. */
const STAGES: [string, string][] = [
  ['watch', 'B: git commit writes the ref, B\'s ref watcher notices it'],
  ['offer-sent', 'B: offer sent on the held link'],
  ['offer-heard', 'A: offer heard by A\'s node (the link)'],
  ['offer-passed', 'A: offer gate passes it on'],
  ['offer-at-worker', 'A: endpoint -> the remote\'s worker'],
  ['fetch-start', 'A: fetch decision (tracking, cat-file), git fetch spawned'],
  ['helper-spawned', 'A: git fetch starts git-remote-p2p (process start)'],
  ['helper-main', 'A: helper start-up (Node, modules)'],
  ['lend-request', 'A: helper asks the node for a session (git config, socket)'],
  ['serve-start', 'B: session channel opened on the held link'],
  ['session-open', 'A: session accepted (back over the link)'],
  ['helper-connected', 'A: helper has its session'],
  ['upload-pack-first-byte', 'B: upload-pack started, its advertisement'],
  ['advertised', 'B: guard decides the shown set, advertises'],
  ['request-heard', 'B: A\'s git reads the listing, sends its wants'],
  ['upload-pack-exit', 'B: guard + upload-pack negotiate, pack sent, exits'],
  ['fetched', 'A: index-pack, update-ref, fetch ends, DONESYNCING'],
];

/** Per commit, each stage's first mark in its window; medians of the steps between them. */
function stageReport(text: string, windows: [number, number][]): void {
  const marks = text.split('\n').filter(Boolean).map((line) => {
    const [at, , stage] = line.split(' ');
    return { at: Number(at), stage: stage! };
  });
  const steps = new Map<string, number[]>();
  const offsets = new Map<string, number[]>();
  for (const [start, end] of windows) {
    const first = new Map<string, number>();
    for (const m of marks) if (m.at >= start && m.at <= end && !first.has(m.stage)) first.set(m.stage, m.at);
    first.set('fetched', end);
    let previous = start;
    for (const [stage] of STAGES) {
      const at = first.get(stage);
      if (at === undefined) continue;
      (steps.get(stage) ?? steps.set(stage, []).get(stage)!).push(at - previous);
      (offsets.get(stage) ?? offsets.set(stage, []).get(stage)!).push(at - start);
      previous = at;
    }
  }
  report('peer: where the time goes (median step, median time since commit)', `${windows.length} commits`);
  for (const [stage, what] of STAGES) {
    const s = steps.get(stage);
    if (!s) continue;
    const seen = s.length < windows.length ? ` [in ${s.length}/${windows.length}]` : '';
    report(`  ${what}`, `${median(s).toFixed(1).padStart(6)} ms  @${median(offsets.get(stage)!).toFixed(1).padStart(6)} ms${seen}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchP2p();
