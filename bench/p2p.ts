// Peers: commit-to-fetched latency over the held link (two daemons on a loopback hyperdht testnet),
// and the memory of one peer node (the child process the p2p endpoint runs).

import { execFileSync } from 'node:child_process';
import { commit } from '../test/support/git.js';
import { logged, twoPeers } from '../test/p2p/support.js';
import { memoryOf } from './procfs.js';
import { median, report } from './report.js';

export async function benchP2p(samplesWanted = 20): Promise<void> {
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
    report(
      `peer: commit on B to fetched on A over the held link, median of ${samplesWanted} (target < 1 s)`,
      `${median(samples).toFixed(1)} ms (min ${Math.min(...samples).toFixed(1)}, max ${Math.max(...samples).toFixed(1)})`,
    );
    const pid = Number(/peer node up \(pid (\d+)\)/.exec(await logged(da, /peer node up \(pid \d+\)/))![1]);
    await new Promise((r) => setTimeout(r, 3000)); // a quiet node is what a node mostly is
    const mem = memoryOf(pid);
    report('peer node memory (child process, one held link)', `RSS ${mem.rssMb.toFixed(1)} MB, PSS ${mem.pssMb.toFixed(1)} MB`);
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchP2p();
