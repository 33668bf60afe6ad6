// Notices that the machine came back from suspend or changed networks, so remotes waiting out a
// backoff can try at once instead of minutes later. On Linux the kernel says so through netlink:
// `ip -o monitor address route` (iproute2) prints a line for each new address or route, with no
// polling. Suspend may change nothing on the network, so a clock jump (a timer that fires far later
// than asked) counts too; that timer wakes once a minute and is unref'd.

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { tiedToOurLife } from '../shared/kit/tied.js';

export interface NetWatchOptions {
  changed(why: string): void;
  log(text: string): void;
  /** How often the clock is checked for a jump; a jump is anything over twice this late. */
  clockCheckMs?: number;
  /** Changes within this window are one change (a new address brings a route or two with it). */
  settleMs?: number;
}

export interface NetWatch {
  /** Resolves once the netlink monitor is listening (or has failed and only the clock is watched). */
  ready: Promise<void>;
  stop(): void;
}

/** True for a monitor line that means "there is a new way out": a new address, or a default route. */
export function meansNewNetwork(line: string): boolean {
  if (line.startsWith('Deleted')) return false;
  // `2: eth0    inet 192.0.2.5/24 ... scope global dynamic eth0`: only global addresses lead out.
  if (/^\d+:\s+\S+\s+inet6?\s/.test(line)) return /\bscope global\b/.test(line);
  return /^default\s/.test(line);
}

export function watchNetwork(options: NetWatchOptions): NetWatch {
  const settleMs = options.settleMs ?? 1000;
  const clockCheckMs = options.clockCheckMs ?? 60_000;
  let settle: NodeJS.Timeout | undefined;
  let stopped = false;
  const changed = (why: string) => {
    if (stopped || settle) return;
    settle = setTimeout(() => {
      settle = undefined;
      if (!stopped) options.changed(why);
    }, settleMs);
    settle.unref();
  };

  let last = Date.now();
  const clock = setInterval(() => {
    const now = Date.now();
    if (now - last > 2 * clockCheckMs) changed(`the clock jumped ${Math.round((now - last - clockCheckMs) / 1000)} s (suspend and resume?)`);
    last = now;
  }, clockCheckMs);
  clock.unref();

  let child: ChildProcess | undefined;
  const ready = new Promise<void>((resolve) => {
    try {
      // It never reads stdin, so only the kernel can end it when the daemon is killed outright.
      const monitor = tiedToOurLife('ip', ['-o', 'monitor', 'address', 'route']);
      child = spawn(monitor.file, monitor.args, { stdio: ['ignore', 'pipe', 'ignore'] });
    } catch (err) {
      options.log(`network changes: cannot run ip monitor (${(err as Error).message}); watching the clock only`);
      resolve();
      return;
    }
    child.once('spawn', () => resolve());
    child.once('error', (err) => {
      options.log(`network changes: cannot run ip monitor (${err.message}); watching the clock only`);
      resolve();
    });
    child.once('exit', () => {
      if (!stopped) options.log('network changes: ip monitor ended; watching the clock only');
    });
    // readline keeps at most one line: a monitor line is short, and iproute2 is ours to trust.
    createInterface({ input: child.stdout!, crlfDelay: Infinity }).on('line', (line) => {
      if (meansNewNetwork(line)) changed(`network change: ${line.replace(/\s+/g, ' ').slice(0, 120)}`);
    });
    child.unref();
    (child.stdout as unknown as { unref?(): void }).unref?.();
  });
  return {
    ready,
    stop() {
      stopped = true;
      clearInterval(clock);
      clearTimeout(settle);
      child?.kill();
    },
  };
}
