// What /proc says about a process and its descendants: memory (RSS, PSS) and CPU time, for the
// benchmark sections that measure the daemon, its peer node and their children.

import { readdirSync, readFileSync } from 'node:fs';

/** A number from /proc/<pid>/status (`VmRSS`, `VmHWM`...), in kB. */
export function procStatus(pid: number, key: string): number {
  return Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
}

/** RSS and PSS of one process, in MB. */
export function memoryOf(pid: number): { rssMb: number; pssMb: number } {
  return { rssMb: procStatus(pid, 'VmRSS') / 1024, pssMb: pssMb([pid]) };
}

/** The summed PSS of these processes, in MB; one that has gone counts nothing. */
export function pssMb(pids: number[]): number {
  let kb = 0;
  for (const pid of pids) {
    try {
      kb += Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return kb / 1024;
}

/** The process and every descendant. */
export function tree(root: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone
    }
  }
  const all = [root];
  for (let i = 0; i < all.length; i++) for (const [pid, ppid] of parent) if (ppid === all[i]) all.push(pid);
  return all;
}

/** CPU ticks (user + system) used so far by the process tree. */
export function cpuTicks(root: number): number {
  let ticks = 0;
  for (const pid of tree(root)) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone
    }
  }
  return ticks;
}

/**
 * One thread of a process: its CPU time and wake-ups (voluntary context switches). `cpuNs` is the
 * scheduler's exact run time (/proc/.../schedstat); `ticks` is utime + stime, which the kernel
 * reports per thread in whole 10 ms ticks: over a minute of a thread that runs ~1 ms per wake-up,
 * rounding alone moves a thread's figure by a tick, ten threads by 0.17 % of a core.
 */
export interface ThreadSample {
  pid: number;
  tid: number;
  /** The thread's name (comm): node names its worker threads after the process, V8's and libuv's `node`. */
  name: string;
  cpuNs: number;
  ticks: number;
  wakeups: number;
}

/** Every thread of the process tree as it stands now. */
export function threadSamples(root: number): ThreadSample[] {
  const samples: ThreadSample[] = [];
  for (const pid of tree(root)) {
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue; // gone
    }
    for (const tid of tids) {
      try {
        const dir = `/proc/${pid}/task/${tid}`;
        const stat = readFileSync(`${dir}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const status = readFileSync(`${dir}/status`, 'utf8');
        const wakeups = Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
        const cpuNs = Number(readFileSync(`${dir}/schedstat`, 'utf8').split(' ')[0]);
        const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        samples.push({ pid, tid: Number(tid), name, cpuNs, ticks: Number(fields[11]) + Number(fields[12]), wakeups });
      } catch {
        // gone
      }
    }
  }
  return samples;
}

/** The exact CPU time (ns) used so far by every thread of the process tree. */
export function cpuNs(root: number): number {
  return threadSamples(root).reduce((total, t) => total + t.cpuNs, 0);
}

/** What each thread used between two samples (threads that came later count from zero). */
export function threadUse(before: ThreadSample[], after: ThreadSample[]): ThreadSample[] {
  const earlier = new Map(before.map((s) => [`${s.pid}/${s.tid}`, s]));
  return after.map((s) => {
    const was = earlier.get(`${s.pid}/${s.tid}`);
    return { ...s, cpuNs: s.cpuNs - (was?.cpuNs ?? 0), ticks: s.ticks - (was?.ticks ?? 0), wakeups: s.wakeups - (was?.wakeups ?? 0) };
  });
}

/** Clock ticks per second of /proc's CPU times (USER_HZ: 100 on every Linux that matters). */
export const TICKS_PER_SECOND = 100;
