// How many remotes one daemon process holds on this machine, and what stops it first: one
// repository, the existing per-repository daemon (`--foreground`), with N local remotes for N in
// 50, 100, 200, 300, 500 (up to `max`). For each N: the daemon's threads and open fds, its
// inotify instances and watches, PSS with its child processes, the time from start to the last
// CONNECTED, and which limit was hit, if any. Then the limits of this machine and of the daemon
// process, and how far each would let it go at the cost per remote just measured.
//
//   node dist/bench/scale.js [max]                  (max: 500)
//   node dist/bench/scale.js 500 --settle 5         (seconds of quiet before sampling; 12)
//   node dist/bench/scale.js --steps 100,300        (these N only)
//   node dist/bench/scale.js --stall 300            (seconds without a new CONNECTED before giving up; 120)
//   bash -c 'ulimit -n 1024; node dist/bench/scale.js 300'   (under a lower fd limit)
//
// docs/scale.md records the figures and what they mean for many repositories on many machines.

import { appendFileSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { makeFixture, git, type Fixture } from '../test/support/git.js';
import { startDaemon } from '../test/support/daemon.js';
import { POOL_MAX_THREADS, WORKER_RESOURCE_LIMITS } from '../src/supervisor.js';
import { procStatus, pssMb, tree } from './procfs.js';

const STEPS = [50, 100, 200, 300, 500];
/** Signs of a resource limit in what the daemon says (its WARNING lines and stderr). */
const LIMIT_SIGNS = /EMFILE|ENFILE|ENOSPC|EAGAIN|too many open files|no space left|resource temporarily unavailable|inotify|ERR_WORKER|out of memory|heap limit|cannot create thread|pthread_create/i;

/**
 * No new CONNECTED for this long: the rest are not coming (`--stall <seconds>`). Generous: on a
 * loaded 2-core machine a hundred threads starting at once (each loading its modules, faulting in
 * memory under one mmap lock) can go half a minute without one of them connecting.
 */
let STALL_MS = 120_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const read = (path: string) => {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
};

/** `Max open files` and `Max processes` of a process, as `soft/hard`. */
function limitOf(pid: number, what: string): { soft: number; hard: number } {
  const line = read(`/proc/${pid}/limits`).split('\n').find((l) => l.startsWith(what)) ?? '';
  const [soft, hard] = line.slice(what.length).trim().split(/\s+/);
  const n = (v: string | undefined) => (v === 'unlimited' ? Infinity : Number(v));
  return { soft: n(soft), hard: n(hard) };
}

interface Fds {
  total: number;
  inotify: number;
  watches: number;
}

/** Open fds of one process, its inotify instances and the watches they hold. */
function fdsOf(pid: number): Fds {
  const result = { total: 0, inotify: 0, watches: 0 };
  let names: string[] = [];
  try {
    names = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return result;
  }
  for (const fd of names) {
    result.total++;
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== 'anon_inode:inotify') continue;
    } catch {
      continue;
    }
    result.inotify++;
    result.watches += read(`/proc/${pid}/fdinfo/${fd}`).split('\n').filter((l) => l.startsWith('inotify wd:')).length;
  }
  return result;
}

/** Every inotify instance on the machine (the limit is per user; other processes count too). */
function inotifyInUse(): number {
  let n = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) if (readlinkSync(`/proc/${pid}/fd/${fd}`) === 'anon_inode:inotify') n++;
    } catch {
      // gone, or not ours to read
    }
  }
  return n;
}

/** Adds remotes r<from>..r<to - 1>, each a bare clone already fetched: connecting needs no catch-up. */
function addRemotes(fx: Fixture, from: number, to: number): void {
  const sha = git(fx.local, 'rev-parse', 'refs/remotes/origin/main');
  let config = '';
  let refs = '';
  for (let i = from; i < to; i++) {
    const path = join(fx.root, `r${i}.git`);
    git(fx.root, 'clone', '-q', '--bare', fx.remote, path);
    config += `[remote "r${i}"]\n\turl = ${path}\n\tfetch = +refs/heads/*:refs/remotes/r${i}/*\n`;
    refs += `update refs/remotes/r${i}/main ${sha}\n`;
  }
  appendFileSync(join(fx.local, '.git', 'config'), config);
  execFileSync('git', ['update-ref', '--stdin'], { cwd: fx.local, input: refs });
}

interface Step {
  remotes: number;
  connected: number;
  msToConnected: number | undefined;
  threads: number;
  peakThreads: number;
  fds: Fds;
  childFds: number;
  children: number;
  pssMb: number;
  treePssMb: number;
  limitHits: string[];
  /** What the daemon warned of (each text once, remote and paths left out), when not every remote connected. */
  tail: string[];
  nofile: { soft: number; hard: number };
}

/** Starts the daemon on a repository with `remotes` remotes; waits until all connect or the count stalls. */
async function measure(fx: Fixture, remotes: number, settleMs: number): Promise<Step> {
  const started = performance.now();
  const d = startDaemon(fx.local, ['--foreground', '--verbose']);
  const pid = d.child.pid!;
  let peakThreads = 0;
  const sampler = setInterval(() => {
    try {
      peakThreads = Math.max(peakThreads, procStatus(pid, 'Threads'));
    } catch {
      // gone
    }
  }, 100);
  const connected = () => d.lines.filter((l) => l.startsWith('CONNECTED ')).length;
  let msToConnected: number | undefined;
  try {
    // All connected, or no new CONNECTED for STALL_MS (a limit stops the rest: they retry with backoff).
    let last = -1;
    let lastChange = performance.now();
    for (;;) {
      const n = connected();
      if (n >= remotes) {
        msToConnected = performance.now() - started;
        break;
      }
      if (n !== last) [last, lastChange] = [n, performance.now()];
      if (performance.now() - lastChange > STALL_MS || d.child.exitCode !== null) break;
      await sleep(50);
    }
    await sleep(settleMs);
    const pids = tree(pid);
    const children = pids.slice(1);
    const said = [...d.lines.filter((l) => l.startsWith('WARNING ')), ...d.stderr];
    const limitHits = [...new Set(said.filter((l) => LIMIT_SIGNS.test(l)).map((l) => l.replace(/^WARNING \S+ /, '').replace(/^\S+: /, '').slice(0, 140)))];
    return {
      remotes,
      connected: connected(),
      msToConnected,
      threads: procStatus(pid, 'Threads'),
      peakThreads,
      fds: fdsOf(pid),
      childFds: children.reduce((t, p) => t + fdsOf(p).total, 0),
      children: children.length,
      pssMb: pssMb([pid]),
      treePssMb: pssMb(pids),
      limitHits,
      tail: connected() < remotes ? [...new Set(said.filter((l) => !/: runs in thread \d+$/.test(l)).map((l) => l.replace(/^WARNING \S+ /, 'WARNING <remote> ').replace(/\/tmp\/\S+/g, '<path>')))].slice(0, 8) : [],
      nofile: limitOf(pid, 'Max open files'),
    };
  } finally {
    clearInterval(sampler);
    await d.stop();
  }
}

const pad = (v: string | number, n: number) => String(v).padStart(n);

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const settleAt = args.indexOf('--settle');
  const settleMs = settleAt >= 0 ? Number(args.splice(settleAt, 2)[1]) * 1000 : 12_000;
  const stallAt = args.indexOf('--stall');
  if (stallAt >= 0) STALL_MS = Number(args.splice(stallAt, 2)[1]) * 1000;
  const stepsAt = args.indexOf('--steps');
  const only = stepsAt >= 0 ? args.splice(stepsAt, 2)[1]!.split(',').map(Number) : undefined;
  const max = Number(args[0] ?? 500);
  const steps = only ?? STEPS.filter((n) => n <= max);
  if (!only && (!steps.length || steps.at(-1) !== max)) steps.push(max);

  const sys = {
    instances: Number(read('/proc/sys/fs/inotify/max_user_instances')),
    watches: Number(read('/proc/sys/fs/inotify/max_user_watches')),
    threadsMax: Number(read('/proc/sys/kernel/threads-max')),
    pidMax: Number(read('/proc/sys/kernel/pid_max')),
    memAvailableMb: Number(/^MemAvailable:\s+(\d+)/m.exec(read('/proc/meminfo'))?.[1] ?? 0) / 1024,
    cgroupMemory: read('/sys/fs/cgroup/memory.max') || 'none',
    cgroupPids: read('/sys/fs/cgroup/pids.max') || 'none',
  };
  console.log(`git-remote-daemon scale (node ${process.version}): one daemon, one repository, N local remotes; sampled after ${settleMs / 1000} s of quiet`);
  console.log(
    `limits: inotify max_user_instances ${sys.instances} (in use on this machine now: ${inotifyInUse()}), max_user_watches ${sys.watches}; ` +
      `threads-max ${sys.threadsMax}, pid_max ${sys.pidMax}; cgroup memory.max ${sys.cgroupMemory}, pids.max ${sys.cgroupPids}; ` +
      `MemAvailable ${sys.memAvailableMb.toFixed(0)} MB; piscina maxThreads ${POOL_MAX_THREADS}; per worker maxOldGenerationSizeMb ${WORKER_RESOURCE_LIMITS.maxOldGenerationSizeMb}\n`,
  );
  console.log(`${pad('N', 5)} ${pad('connected', 9)} ${pad('to all', 8)} ${pad('threads', 7)} ${pad('peak', 5)} ${pad('fds', 5)} ${pad('inotify', 7)} ${pad('watches', 7)} ${pad('children', 8)} ${pad('child fds', 9)} ${pad('PSS MB', 7)} ${pad('+children', 9)}  nofile  limit hit`);

  const fx = makeFixture();
  const results: Step[] = [];
  try {
    let have = 1; // origin
    for (const n of steps) {
      addRemotes(fx, have, n);
      have = n;
      const s = await measure(fx, n, settleMs);
      results.push(s);
      const limit = s.limitHits.length ? s.limitHits.join(' | ') : s.connected < n ? 'stalled (no limit message)' : 'none';
      console.log(
        `${pad(n, 5)} ${pad(s.connected, 9)} ${pad(s.msToConnected === undefined ? '-' : `${(s.msToConnected / 1000).toFixed(1)} s`, 8)} ${pad(s.threads, 7)} ${pad(s.peakThreads, 5)} ${pad(s.fds.total, 5)} ${pad(s.fds.inotify, 7)} ${pad(s.fds.watches, 7)} ${pad(s.children, 8)} ${pad(s.childFds, 9)} ${pad(s.treePssMb ? s.pssMb.toFixed(0) : '-', 7)} ${pad(s.treePssMb.toFixed(0), 9)}  ${s.nofile.soft === s.nofile.hard ? s.nofile.soft : `${s.nofile.soft}/${s.nofile.hard}`}  ${limit}`,
      );
      for (const line of s.tail) console.log(`      | ${line.slice(0, 150)}`);
    }
  } finally {
    fx.cleanup();
  }

  // What one more remote costs, from the largest step where every remote connected, and how far
  // each limit would let one process go at that cost.
  const full = results.filter((s) => s.connected === s.remotes);
  const b = full.at(-1);
  if (!b) {
    console.log('\nno step where every remote connected: no cost per remote');
    return;
  }
  // With one complete step, against nothing at all: an upper bound (the process's own share in it).
  const a: Step = full.length > 1 ? full[0]! : { ...b, remotes: 0, threads: 0, fds: { total: 0, inotify: 0, watches: 0 }, childFds: 0, treePssMb: 0 };
  const per = (f: (s: Step) => number) => (f(b) - f(a)) / (b.remotes - a.remotes);
  const cost = {
    threads: per((s) => s.threads),
    fds: per((s) => s.fds.total + s.childFds),
    inotify: per((s) => s.fds.inotify),
    watches: per((s) => s.fds.watches),
    pss: per((s) => s.treePssMb),
  };
  console.log(
    `\nper added remote (${a.remotes} -> ${b.remotes}): ${cost.threads.toFixed(2)} threads, ${cost.fds.toFixed(2)} fds (with children), ` +
      `${cost.inotify.toFixed(2)} inotify instances, ${cost.watches.toFixed(2)} watches, ${cost.pss.toFixed(1)} MB PSS with children`,
  );
  const ceiling = (limit: number, used: number, each: number) => (each > 0 ? Math.floor((limit - used) / each) + (b.remotes) : Infinity);
  const ceilings: [string, number][] = [
    [`inotify max_user_instances ${sys.instances} (per user, every process of the user counts)`, ceiling(sys.instances, b.fds.inotify, cost.inotify)],
    [`open files: the daemon's RLIMIT_NOFILE ${b.nofile.soft}`, ceiling(b.nofile.soft, b.fds.total, per((s) => s.fds.total))],
    [`open files at a 1024 limit (node raises its soft limit to the hard one at start; 1024 when hard is 1024)`, ceiling(1024, b.fds.total, per((s) => s.fds.total))],
    [`inotify max_user_watches ${sys.watches}`, ceiling(sys.watches, b.fds.watches, cost.watches)],
    [`piscina maxThreads ${POOL_MAX_THREADS}`, POOL_MAX_THREADS],
    [`threads-max ${sys.threadsMax} (machine-wide)`, ceiling(sys.threadsMax, b.threads, cost.threads)],
    [`memory: MemAvailable ${sys.memAvailableMb.toFixed(0)} MB`, ceiling(sys.memAvailableMb, 0, cost.pss)],
  ];
  ceilings.sort((x, y) => x[1] - y[1]);
  console.log('remotes one process could hold, by limit, at that cost (first one first):');
  for (const [what, n] of ceilings) console.log(`  ${pad(Number.isFinite(n) ? n : 'no limit', 8)}  ${what}`);
  const hit = results.find((s) => s.connected < s.remotes);
  console.log(`first limit: ${hit ? `hit at N=${hit.remotes} (${hit.connected} connected): ${hit.limitHits[0] ?? 'no message'}` : `none hit up to ${steps.at(-1)}; next: ${ceilings[0]![0]}`}`);
}

await main();
