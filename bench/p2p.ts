// Peers: commit-to-fetched latency over the held link (two daemons on a loopback hyperdht testnet),
// next to the ssh daemon's push-to-fetched in the same run (target: at most 1.3x), and the memory of
// one peer node (the child process the p2p endpoint runs).
//
//   node dist/bench/p2p.js   (measures the ssh figure first; `npm run bench` passes its own)

import { execFileSync } from 'node:child_process';
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
  try {
    const { a, b, da } = await twoPeers({ after: (fn) => cleanups.push(fn) });
    const samples: number[] = [];
    for (let i = 0; i < samplesWanted; i++) {
      const from = da.lines.length;
      const sha = commit(b, `bench ${i}`);
      const committed = performance.now();
      for (let seen = from; ; ) {
        await da.waitFor('DONESYNCING b 1', { from: seen, timeoutMs: 10_000 });
        seen = da.lines.indexOf('DONESYNCING b 1', seen) + 1;
        if (execFileSync('git', ['rev-parse', 'refs/remotes/b/main'], { cwd: a, encoding: 'utf8' }).trim() === sha) break;
      }
      samples.push(performance.now() - committed);
    }
    report(`peer: commit on B to fetched on A over the held link, median of ${samplesWanted}`, spread(samples));
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

if (import.meta.url === `file://${process.argv[1]}`) await benchP2p();
