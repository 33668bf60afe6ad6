// Stage timestamps for the bench (bench/p2p.ts): with GRD_P2P_TIMING=<file> set, each process on
// the path from a commit to the peer's fetch (peer node, remote's worker, git-remote-p2p) appends
// `<epoch ms> <pid> <stage>` lines to that file. Unset (always, outside the bench), `mark` is a
// function that does nothing: no clock read, no file, no allocation beyond the call.

import { appendFileSync } from 'node:fs';

const file = process.env.GRD_P2P_TIMING;
/** Whether stages are being marked: for marks that need a listener of their own. */
export const timing = file !== undefined && file !== '';

/** Now as epoch milliseconds with a fraction: comparable across the processes of one machine. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

export const mark: (stage: string, at?: number) => void = timing
  ? (stage, at = epochMs()) => {
      try {
        appendFileSync(file!, `${at.toFixed(2)} ${process.pid} ${stage}\n`);
      } catch {
        // a bench aid: never a reason to fail
      }
    }
  : () => {};
