// git's housekeeping for the repository, off the path from a change to moved refs. The daemon's
// fetches skip the `git maintenance run --auto` a plain `git fetch` ends with
// (workers/fetchargs.ts); this runs it instead, once the repository's remotes have been quiet for
// `remotedaemon.maintenanceQuiet` seconds after a fetch, and at most once every few minutes: one
// run for the repository, however many remotes fetched. What it does is git's own decision
// (`gc.auto`, `gc.autoPackLimit`, `maintenance.<task>.*`); `maintenance.auto = false`, which
// stops git's commands from running it, stops the daemon too.

import { last, parseBool, type GitConfig } from '../shared/gitconfig.js';
import { runInGroup, type GroupResult } from '../shared/kit/group.js';

export const DEFAULT_MAINTENANCE_QUIET_SECONDS = 60;
/** At most one run per this long, however busy the remotes. */
export const MAINTENANCE_EVERY_MS = 5 * 60_000;
/** A gc of a large repository takes a while; one that hangs is ended after this. */
const MAINTENANCE_TIMEOUT_MS = 60 * 60_000;

export interface MaintenanceOptions {
  cwd: string;
  log(text: string): void;
  /** Runs `git maintenance run --auto`; tests give a fake. */
  run?: (cwd: string, signal: AbortSignal) => Promise<GroupResult>;
  now?: () => number;
  /** Calls `fn` after `ms`; returns what cancels it. Tests give a fake clock. */
  setTimer?: (fn: () => void, ms: number) => () => void;
}

function realTimer(fn: () => void, ms: number): () => void {
  const timer = setTimeout(fn, ms);
  timer.unref(); // a pending run keeps no daemon alive
  return () => clearTimeout(timer);
}

export interface MaintenanceSettings {
  /** `maintenance.auto` (default true). */
  enabled: boolean;
  quietMs: number;
}

export function maintenanceSettings(config: GitConfig, quietSeconds: number): MaintenanceSettings {
  return { enabled: parseBool(last(config, 'maintenance.auto') ?? 'true') !== false, quietMs: quietSeconds * 1000 };
}

/**
 * Not detached (`gc.autoDetach=false`): it already runs beside the daemon, and kept in its process
 * group it ends with the daemon (SIGTERM, on which git removes its lock files) instead of
 * outliving it unseen.
 */
function runGitMaintenance(cwd: string, signal: AbortSignal): Promise<GroupResult> {
  return runInGroup('git', ['-c', 'gc.autoDetach=false', 'maintenance', 'run', '--auto'], {
    cwd,
    env: { ...process.env, GIT_TERMINAL_PROMPT: '0' },
    timeoutMs: MAINTENANCE_TIMEOUT_MS,
    signal,
    describeTimeout: `still running after ${MAINTENANCE_TIMEOUT_MS / 60_000} minutes`,
    describeAbort: 'stopped with the daemon',
    maxOutput: 4096,
  });
}

export class Maintenance {
  private settings: MaintenanceSettings = { enabled: true, quietMs: DEFAULT_MAINTENANCE_QUIET_SECONDS * 1000 };
  private readonly abort = new AbortController();
  private readonly now: () => number;
  private readonly setTimer: (fn: () => void, ms: number) => () => void;
  private cancelTimer: () => void = () => {};
  /** A fetch ended since the last run began. */
  private due = false;
  private lastFetchAt = 0;
  private lastRunAt = -Infinity;
  private running: Promise<void> | undefined;
  /** Runs begun, for tests and status. */
  runs = 0;

  constructor(private readonly options: MaintenanceOptions) {
    this.now = options.now ?? Date.now;
    this.setTimer = options.setTimer ?? realTimer;
  }

  configure(settings: MaintenanceSettings): void {
    this.settings = settings;
    if (this.due && !this.running) this.arm();
  }

  /** A fetch (of any remote) is over: the objects it brought may want packing once all is quiet. */
  fetched(): void {
    if (this.abort.signal.aborted) return;
    this.due = true;
    this.lastFetchAt = this.now();
    if (!this.running) this.arm();
  }

  /** Ends a running maintenance and schedules no more. */
  async stop(): Promise<void> {
    this.abort.abort();
    this.cancelTimer();
    await this.running;
  }

  private arm(): void {
    this.cancelTimer();
    // Quiet for a while after the last fetch, and not again within a few minutes of the last run.
    const at = Math.max(this.lastFetchAt + this.settings.quietMs, this.lastRunAt + MAINTENANCE_EVERY_MS);
    this.cancelTimer = this.setTimer(() => this.fire(), Math.max(0, at - this.now()));
  }

  private fire(): void {
    this.cancelTimer = () => {};
    if (!this.due || this.running || this.abort.signal.aborted) return;
    this.due = false;
    if (!this.settings.enabled) {
      this.options.log('maintenance: not run, maintenance.auto is false');
      return;
    }
    this.lastRunAt = this.now();
    this.runs++;
    this.running = this.runOnce().finally(() => {
      this.running = undefined;
      if (this.due && !this.abort.signal.aborted) this.arm();
    });
  }

  private async runOnce(): Promise<void> {
    const started = this.now();
    const result = await (this.options.run ?? runGitMaintenance)(this.options.cwd, this.abort.signal);
    const took = `${this.now() - started} ms`;
    const output = result.output.trim();
    if (result.killedFor !== undefined) this.options.log(`maintenance: git maintenance run --auto ended: ${result.killedFor}`);
    else if (result.error) this.options.log(`maintenance: could not run git maintenance: ${result.error.message}`);
    else if (result.code !== 0) this.options.log(`maintenance: git maintenance run --auto failed (exit ${result.code ?? result.exitSignal}, ${took})${output ? `: ${output}` : ''}`);
    else this.options.log(`maintenance: git maintenance run --auto done (${took})${output ? `: ${output}` : ''}`);
  }
}
