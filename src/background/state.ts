// The state file, `.git/remote-daemon/state.json` (0600): what `status` shows, rewritten by the
// daemon (temporary file, then rename, so a reader never sees half of it) whenever something
// changes. Liveness is not in it: `status` judges that from the pid file.

import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import type { Mode, RemoteStatus } from '../coordinator.js';
import type { EndpointStatus } from '../../shared/plugin.js';

export interface DaemonState {
  version: 1;
  pid: number;
  /** ms since epoch */
  startedAt: number;
  updatedAt: number;
  /** Where git commands run (the worktree the daemon was started in). */
  cwd: string;
  mode: Mode;
  /** Where the log goes: the log file (background) or stderr (service mode). */
  logTo: 'file' | 'stderr';
  /** Served by the shared daemon (pid is its pid, which serves other repositories too). */
  shared?: boolean;
  remotes: RemoteStatus[];
  /** Daemon-wide conditions that hold now (a config not reloaded, an endpoint that cannot connect). */
  warnings?: { at: number; kind: string; text: string }[];
  /** Remotes in the config the daemon does not act on, and why. */
  ignored?: { name: string; reason: string }[];
  /** Shared endpoints that report a status (the XMPP notice link); absent in older state files. */
  endpoints?: ({ name: string } & EndpointStatus)[];
}

export function writeState(path: string, state: DaemonState): void {
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(temp, path);
}

export function readState(path: string): DaemonState | undefined {
  try {
    const state = JSON.parse(readFileSync(path, 'utf8')) as DaemonState;
    return state.version === 1 ? state : undefined;
  } catch {
    return undefined;
  }
}

export function removeState(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

/** Coalesces bursts of changes into one write at most every `delayMs`. */
export class StateWriter {
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly path: string, private readonly snapshot: () => DaemonState, private readonly delayMs = 50) {}

  changed(): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, this.delayMs);
  }

  flush(): void {
    if (this.closed) return;
    try {
      writeState(this.path, this.snapshot());
    } catch {
      // status shows older news; the daemon carries on
    }
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }
}
