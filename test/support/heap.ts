// The live heap, after a full garbage collection: what a piece of code still holds, not what it has
// thrown away and the collector has not got round to yet. Test processes run without --expose-gc,
// and a shard runs many test files in one process, so a plain heapUsed difference counts garbage
// (and other files' leftovers) as growth.
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';

v8.setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

export function liveHeap(): number {
  collect();
  return process.memoryUsage().heapUsed;
}

/** A full garbage collection now (what is only weakly held may go). */
export function collectGarbage(): void {
  collect();
}
