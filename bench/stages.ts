// Stage marks read back per sample: the processes on a fetch's path append `<epoch ms> <pid>
// <stage>` lines to one file while GRD_P2P_TIMING names it (workers/timing.ts); a sample's window
// says which marks are its own, and its zero what they count from.

import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { median } from './report.js';

/**
 * One sample, in epoch milliseconds: marks from `from` to `to` are its; offsets count from `zero`.
 * `written`: when the ref moved where the change was made (refWrittenAt), if known.
 */
export interface Window {
  from: number;
  zero: number;
  to: number;
  written?: number;
}

/** Where a section's daemons mark their stages, and the windows of its samples. */
export interface StageRecord {
  file: string;
  windows: Window[];
}

export function stageRecord(file: string): StageRecord {
  writeFileSync(file, '');
  return { file, windows: [] };
}

/** Now, in the epoch milliseconds the marks use. */
export const epochNow = () => performance.timeOrigin + performance.now();

/**
 * When a loose ref was last written, in epoch milliseconds: its file's mtime, which the kernel
 * stamps from a clock as coarse as a scheduler tick (1-4 ms), the same for every repository.
 */
export function refWrittenAt(gitDir: string, ref: string): number {
  return Number(statSync(join(gitDir, ref), { bigint: true }).mtimeNs) / 1e6;
}

/**
 * Per stage, its offset from each window's zero: the first mark of the stage in the window (a
 * second one is `stage#2`, and so on), `fetched` for the window's end and `written` for its ref's write.
 */
export function stageOffsets(record: StageRecord): Map<string, number[]> {
  const marks = readFileSync(record.file, 'utf8').split('\n').filter(Boolean).map((line) => {
    const [at, , stage] = line.split(' ');
    return { at: Number(at), stage: stage! };
  });
  const offsets = new Map<string, number[]>();
  for (const { from, zero, to, written } of record.windows) {
    const first = new Map<string, number>();
    for (const m of marks) {
      if (m.at < from || m.at > to) continue;
      let name = m.stage;
      for (let n = 2; first.has(name); n++) name = `${m.stage}#${n}`;
      first.set(name, m.at);
    }
    first.set('fetched', to);
    if (written !== undefined) first.set('written', written);
    for (const [name, at] of first) (offsets.get(name) ?? offsets.set(name, []).get(name)!).push(at - zero);
  }
  return offsets;
}

/** The median offset of `stage`, or undefined when no window has it. */
export function medianOf(offsets: Map<string, number[]>, stage: string): number | undefined {
  const all = offsets.get(stage);
  return all?.length ? median(all) : undefined;
}
