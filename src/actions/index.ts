// Actions after a fetch, off by default: fast-forward the checked-out branch
// (`remote.<name>.remotedaemon-pull = ff-only`) and run the user's command
// (`remotedaemon.afterFetch`). They run one at a time, in fetch order, on the coordinator's side;
// `remotedaemon.afterFetchTimeout` bounds each (the fast-forward runs the user's post-merge hook).

import { MAX_TIMER_SECONDS, last, parseBool, type GitConfig, type LoadedConfig } from '../config.js';
import { DAEMON, isProtocolWord } from '../protocol.js';
import type { RefUpdate, RepoInfo } from '../../shared/workerapi.js';
import { runAfterFetch } from './afterfetch.js';
import { GitInterrupted, fastForward } from './fastforward.js';

export const DEFAULT_AFTER_FETCH_TIMEOUT_SECONDS = 60;

export interface ActionSettings {
  /** Remotes whose fetches fast-forward the checked-out branch. */
  pull: Set<string>;
  afterFetch?: string;
  afterFetchTimeoutMs: number;
  problems: { remote: string; text: string }[];
}

export function actionSettings(config: GitConfig): ActionSettings {
  const settings: ActionSettings = { pull: new Set(), afterFetchTimeoutMs: DEFAULT_AFTER_FETCH_TIMEOUT_SECONDS * 1000, problems: [] };
  for (const [key, values] of config) {
    const match = /^remote\.(.+)\.remotedaemon-pull$/s.exec(key);
    if (!match) continue;
    const value = values.at(-1)!;
    // A name that cannot stand in a protocol line is spoken of by the daemon itself.
    const remote = isProtocolWord(match[1]) ? match[1] : DAEMON;
    if (value.toLowerCase() === 'ff-only') settings.pull.add(match[1]);
    // Off: any of git's false spellings, or `none`.
    else if (parseBool(value) !== false && value.toLowerCase() !== 'none') {
      settings.problems.push({ remote, text: `remote.${JSON.stringify(match[1]).slice(1, -1)}.remotedaemon-pull must be ff-only or false, not ${JSON.stringify(value)}; not pulling` });
    }
  }
  const command = last(config, 'remotedaemon.afterfetch');
  if (command && command.trim() !== '') settings.afterFetch = command;
  const timeout = last(config, 'remotedaemon.afterfetchtimeout');
  if (timeout !== undefined) {
    const n = Number(timeout);
    if (Number.isFinite(n) && n > 0 && n <= MAX_TIMER_SECONDS) settings.afterFetchTimeoutMs = n * 1000;
    else settings.problems.push({ remote: DAEMON, text: `remotedaemon.afterFetchTimeout must be a number of seconds from 0 to ${MAX_TIMER_SECONDS}, not ${JSON.stringify(timeout)}; using ${DEFAULT_AFTER_FETCH_TIMEOUT_SECONDS}` });
  }
  return settings;
}

export interface ActionsOptions {
  repo: RepoInfo;
  /** A WARNING for a remote (or DAEMON): recorded in status and emitted. */
  warn(remote: string, text: string): void;
  /** A line for the log. */
  log(text: string): void;
}

export class Actions {
  private settings: ActionSettings = actionSettings(new Map());
  private queue: Promise<void> = Promise.resolve();
  private readonly abort = new AbortController();
  /** The last refusal per remote: the same reason is said once, not after every fetch. */
  private readonly refused = new Map<string, string>();
  private reportedProblems = new Set<string>();
  /**
   * Remotes with a pull queued that has not begun. It looks at the repository only when it runs,
   * so it covers every fetch that ended meanwhile: a second one would find nothing to do, and
   * while a slow pull runs, fetches would otherwise pile up a pull each.
   */
  private readonly pullQueued = new Set<string>();

  constructor(private readonly options: ActionsOptions) {}

  configure(config: LoadedConfig): void {
    this.settings = actionSettings(config.raw);
    const now = new Set<string>();
    for (const { remote, text } of this.settings.problems) {
      const key = `${remote}\0${text}`;
      now.add(key);
      if (!this.reportedProblems.has(key)) this.options.warn(remote, text);
    }
    this.reportedProblems = now;
    for (const remote of this.refused.keys()) if (!this.settings.pull.has(remote)) this.refused.delete(remote);
  }

  /** Whether fetches must say which refs they moved: only the after-fetch command needs them. */
  wantsUpdates(): boolean {
    return this.settings.afterFetch !== undefined;
  }

  /** Queues the actions for a finished fetch. */
  fetched(remote: string, ok: boolean, updates: RefUpdate[]): void {
    if (!ok || this.abort.signal.aborted) return;
    const pull = this.settings.pull.has(remote);
    const command = this.settings.afterFetch;
    // ff-only is tried after every good fetch, even one that moved nothing: a branch that was
    // left alone because the tree was dirty catches up once the tree is clean.
    if (!pull && !(command && updates.length > 0)) return;
    const timeoutMs = this.settings.afterFetchTimeoutMs;
    if (pull && !this.pullQueued.has(remote)) {
      this.pullQueued.add(remote);
      this.enqueue(() => {
        this.pullQueued.delete(remote); // a fetch from now on may have moved the upstream again
        return this.pull(remote, timeoutMs);
      });
    }
    if (command && updates.length > 0) this.enqueue(() => this.afterFetch(command, remote, updates, timeoutMs));
  }

  private enqueue(work: () => Promise<void>): void {
    this.queue = this.queue
      .then(() => (this.abort.signal.aborted ? undefined : work()))
      .catch((err: Error) => this.options.log(`after-fetch action failed: ${err.message}`));
  }

  /** Resolves when nothing is queued or running (for tests and shutdown). */
  async idle(): Promise<void> {
    let seen: Promise<void>;
    do {
      seen = this.queue;
      await seen;
    } while (seen !== this.queue);
  }

  /** Kills a running command or git (with its hook) and runs nothing more. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.queue;
  }

  private async pull(remote: string, timeoutMs: number): Promise<void> {
    let result;
    try {
      result = await fastForward(this.options.repo, remote, { timeoutMs, signal: this.abort.signal });
    } catch (err) {
      if (err instanceof GitInterrupted) {
        // Killed part-way: if it was the merge's hook, the branch may have moved already.
        if (this.abort.signal.aborted) this.options.log(`${remote}: fast-forward: ${err.message}`);
        else this.options.warn(remote, `fast-forward: ${err.message}`);
        return;
      }
      result = { kind: 'refused' as const, reason: (err as Error).message };
    }
    if (result.kind === 'refused') {
      if (this.refused.get(remote) !== result.reason) this.options.warn(remote, `not fast-forwarding: ${result.reason}`);
      else this.options.log(`${remote}: still not fast-forwarding: ${result.reason}`);
      this.refused.set(remote, result.reason);
      return;
    }
    this.refused.delete(remote);
    if (result.kind === 'moved') this.options.log(`${remote}: fast-forwarded ${result.branch} from ${result.from.slice(0, 12)} to ${result.to.slice(0, 12)}`);
  }

  private async afterFetch(command: string, remote: string, updates: RefUpdate[], timeoutMs: number): Promise<void> {
    const result = await runAfterFetch({ command, remote, updates, cwd: this.options.repo.cwd, timeoutMs }, this.abort.signal);
    const output = result.output.trim();
    if (output) this.options.log(`${remote}: afterFetch: ${output}`);
    if (!result.ok && !this.abort.signal.aborted) this.options.warn(remote, `afterFetch command failed: ${result.failure}${output ? `: ${output.split('\n').at(-1)}` : ''}`);
  }
}
