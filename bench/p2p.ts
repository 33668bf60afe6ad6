// Peers: commit-to-fetched latency over the held link (two daemons on a loopback hyperdht testnet),
// next to the ssh daemon's push-to-fetched in the same run (target: at most 1.3x), and the memory of
// one peer node (the child process the p2p endpoint runs).
//
//   node dist/bench/p2p.js   (measures the ssh figure first; `npm run bench` passes its own)
//
// Where the time goes: the daemons run with GRD_P2P_TIMING set, so the peer nodes, the remote's
// worker and git-remote-p2p mark each stage (workers/timing.ts); per commit, each stage's
// first mark after it is read back, and the medians are printed in path order.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../test/support/git.js';
import { logged, twoPeers } from '../test/p2p/support.js';
import { memoryOf } from './procfs.js';
import { median, report, spread, verdict } from './report.js';
import { benchSshLatency } from './ssh.js';
import { epochNow, medianOf, refWrittenAt, stageOffsets, stageRecord, type StageRecord } from './stages.js';

/**
 * `sshMs`: the ssh section's push-to-fetched median from the same run, the floor a peer link is
 * held to (at most 1.3x: a held link to a peer should cost about what a held ssh connection does);
 * measured here first when not given. `sshStages`: that section's stage marks, if it took them,
 * for the table of where the peers' figure parts from ssh's.
 */
export async function benchP2p(sshMs?: number, sshStages?: StageRecord, samplesWanted = 20): Promise<void> {
  const cleanups: (() => unknown)[] = [];
  const dir = tempDir('grd-bench-p2p-');
  cleanups.push(() => dir.cleanup());
  if (sshMs === undefined) {
    sshStages = stageRecord(join(dir.path, 'ssh-stages'));
    sshMs = await benchSshLatency(sshStages);
  }
  const record = stageRecord(join(dir.path, 'stages'));
  const before = process.env.GRD_P2P_TIMING;
  process.env.GRD_P2P_TIMING = record.file; // the daemons inherit it
  try {
    const { a, b, da } = await twoPeers({ after: (fn) => cleanups.push(fn) });
    if (before === undefined) delete process.env.GRD_P2P_TIMING;
    else process.env.GRD_P2P_TIMING = before;
    const samples: number[] = [];
    for (let i = 0; i < samplesWanted; i++) {
      // A quiet gap, as the ssh section has. Commits this close spend a peer's offer budget (8 at
      // once, then 1 a second: workers/tokenbucket.ts), so about one sample a run waits ~1 s for
      // a token: the max shows it, the median does not.
      await new Promise((r) => setTimeout(r, 100));
      const from = da.lines.length;
      // Stage marks count from before `git commit` starts: git writes the ref before it returns (its
      // auto-maintenance comes after), so B's watcher may see it first. A sample counts from its return.
      const committedAt = epochNow();
      execFileSync('git', ['commit', '-q', '--allow-empty', '-m', `bench ${i}`], { cwd: b });
      const committed = performance.now(); // git commit returned
      // Read from its file: a git process here would take a core from the path being measured.
      const sha = readFileSync(join(b, '.git', 'refs', 'heads', 'main'), 'utf8').trim();
      let done: number;
      for (let seen = from; ; ) {
        await da.waitFor('DONESYNCING b 1', { from: seen, timeoutMs: 10_000 });
        done = performance.now(); // when the line came, as the ssh section takes it: checking costs a git
        seen = da.lines.indexOf('DONESYNCING b 1', seen) + 1;
        if (execFileSync('git', ['rev-parse', 'refs/remotes/b/main'], { cwd: a, encoding: 'utf8' }).trim() === sha) break;
      }
      samples.push(done - committed);
      record.windows.push({ from: committedAt, zero: performance.timeOrigin + committed, to: performance.timeOrigin + done, written: refWrittenAt(join(b, '.git'), 'refs/heads/main') });
    }
    report(`peer: commit on B to fetched on A over the held link, median of ${samplesWanted}`, spread(samples));
    stageReport(record);
    if (sshStages) gapReport(sshStages, record);
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

/**
 * Stages, by their mark: what the time up to the mark was spent on. The daemon's own fetch is the
 * direct one (workers/direct/) unless it gives way to `git fetch`; then git-remote-p2p's stages
 * (helper-*) show too. Times here count from the start of B's `git commit`; a sample counts from
 * its return.
 */
const STAGES: [string, string][] = [
  ['watch', 'B: git commit writes the ref (its start-up included), B\'s ref watcher notices it'],
  ['offer-sent', 'B: offer sent on the held link'],
  ['offer-heard', 'A: offer heard by A\'s node (the link)'],
  ['offer-passed', 'A: offer gate passes it on'],
  ['offer-at-worker', 'A: node -> endpoint -> the remote\'s worker'],
  ['fetch-start', 'A: fetch decision (tracking refs, cat-file): the fetch starts'],
  ['helper-spawned', 'A: git fetch starts git-remote-p2p (when it gave way to git fetch)'],
  ['helper-main', 'A: Node helper start-up (Node, modules)'],
  ['direct-begin', 'A: the daemon\'s own fetch (workers/direct/) starts'],
  ['socket-request', 'A: the fetch asks the node for a session (its socket)'],
  ['serve-start', 'B: session channel opened on the held link (warm, on the offer)'],
  ['session-open', 'A: session accepted (back over the link)'],
  ['helper-connected', 'A: Node helper has its session'],
  ['direct-opened', 'A: the node hands the worker the session'],
  ['upload-pack-first-byte', 'B: upload-pack forked and started, first byte'],
  ['advertised', 'B: guard decides the shown set, advertises'],
  ['direct-listed', 'A: the peer\'s ref list read'],
  ['request-heard', 'B: A read the listing, planned, sent its wants'],
  ['direct-store-forked', 'A: wants sent, the store script forked (it waits for the pack)'],
  ['direct-received', 'A: the whole pack received (unpack-objects --strict as it comes)'],
  ['upload-pack-exit', 'B: guard + upload-pack negotiate, pack-objects, pack sent, exits'],
  ['direct-stored', 'A: unpack ends, connectivity check, update-ref: the refs moved'],
  ['watch#2', 'A: A\'s node notices its tracking ref moved'],
  ['fetched', 'A: the fetch ends, DONESYNCING'],
];

/**
 * Per commit, each stage's first mark in its window (`stage#2` its second: the watch on A after
 * B's). Printed in the order of their median time since the commit started, each with the step
 * from the one before: stages that overlap (a session opened ahead of the fetch) show where they fall.
 */
function stageReport(record: StageRecord): void {
  // Counted from the commit's start here: B's watcher may see the ref before git commit returns.
  const offsets = stageOffsets({ ...record, windows: record.windows.map((w) => ({ ...w, zero: w.from })) });
  const commits = record.windows.length;
  report('peer: where the time goes (step, median time since commit)', `${commits} commits`);
  const rows = STAGES.filter(([stage]) => offsets.has(stage)).map(([stage, what]) => ({ what, at: medianOf(offsets, stage)!, n: offsets.get(stage)!.length }));
  rows.sort((x, y) => x.at - y.at);
  let previous = 0;
  for (const { what, at, n } of rows) {
    const seen = n < commits ? ` [in ${n}/${commits}]` : '';
    report(`  ${what}`, `${(at - previous).toFixed(1).padStart(6)} ms  @${at.toFixed(1).padStart(6)} ms${seen}`);
    previous = at;
  }
  // A stage seen more often than once per commit (a second session: git reconnecting, say).
  for (const [name, all] of offsets) {
    if (!STAGES.some(([s]) => s === name)) report(`  also marked: ${name}`, `in ${all.length}/${commits} commits`);
  }
}

/** The daemon's own fetch, stage by stage: the same code over ssh and over a peer's link. */
const SHARED: [string, string][] = [
  ['written', 'the ref moved where the change was made (its file\'s mtime)'],
  ['direct-begin', 'the daemon\'s own fetch starts'],
  ['direct-listed', 'it has the remote\'s ref list'],
  ['direct-store-forked', 'wants sent, store script forked'],
  ['direct-received', 'the whole pack received'],
  ['direct-stored', 'the refs moved'],
  ['fetched', 'DONESYNCING'],
];

/**
 * Where the peers' figure parts from ssh's: each shared stage's median time after the command that
 * moved the ref returned (`git push`, `git commit`; negative: before), for both, and the difference.
 */
function gapReport(ssh: StageRecord, peer: StageRecord): void {
  const ours = stageOffsets(ssh);
  const theirs = stageOffsets(peer);
  report('peer against ssh: median ms after git push / git commit returned', 'ssh / peer (peer - ssh)');
  for (const [stage, what] of SHARED) {
    const s = medianOf(ours, stage);
    const p = medianOf(theirs, stage);
    if (s === undefined || p === undefined) {
      report(`  ${what}`, `not marked (${s === undefined ? 'ssh' : 'peer'})`);
      continue;
    }
    report(`  ${what}`, `${s.toFixed(1).padStart(6)} / ${p.toFixed(1).padStart(6)} ms  (${(p - s >= 0 ? '+' : '') + (p - s).toFixed(1)})`);
  }
  // Not the target, which counts from the command's return: the same path from the ref's move,
  // without the tail each command has after it (git push's is longer than git commit's).
  const fromWrite = (offsets: Map<string, number[]>) => {
    const fetched = offsets.get('fetched') ?? [];
    const written = offsets.get('written') ?? [];
    return written.length === fetched.length && fetched.length ? median(fetched.map((at, i) => at - written[i]!)) : undefined;
  };
  const s = fromWrite(ours);
  const p = fromWrite(theirs);
  if (s !== undefined && p !== undefined) report('peer against ssh: from the ref\'s move to DONESYNCING, ssh / peer', `${s.toFixed(1)} / ${p.toFixed(1)} ms, ratio ${(p / s).toFixed(2)}`);
}

if (import.meta.url === `file://${process.argv[1]}`) await benchP2p();
