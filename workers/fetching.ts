// A remote's fetching, carried out: the pure machine (fetchmachine.ts) decides when a fetch runs,
// is queued or retried and what is said; this runs git through fetcher.ts, keeps the retry timer,
// answers whoever waits for a run, and reports to the coordinator (SYNCING, progress, what moved,
// DONESYNCING). The session only says what happened to its connection and when it wants a fetch.

import { backoffDelay } from '../shared/backoff.js';
import { formatBytes } from '../shared/kit/bytes.js';
import type { FromWorker } from '../shared/workerapi.js';
import { Fetcher, type FetcherOptions, type FetchOutcome } from './fetcher.js';
import { initialFetchState, servedBy, stepFetch, type FetchEffect, type FetchEvent, type FetchState } from './fetchmachine.js';
import { countCommits, describeMoved, parseFetchReport } from './fetchreport.js';
import type { FetchProgress } from './progress.js';

/** A failed fetch is tried again while connected, backing off on its own scale up to this. */
const FETCH_RETRY_MAX_MS = 5 * 60_000;
const PROGRESS_EVERY_MS = 1000;
const PROGRESS_LOG_EVERY_MS = 10_000;
/** Of git's complaint, this much goes into a WARNING. */
const MAX_WARNING_CHARS = 300;

export interface FetchingOptions extends Omit<FetcherOptions, 'onStart' | 'onProgress'> {
  post(message: FromWorker): void;
  /** The `fetch` condition (one WARNING while fetches fail). */
  condition(text: string | null): void;
  log(text: string): void;
}

export class Fetching {
  private state: FetchState = initialFetchState;
  private readonly fetcher: Fetcher;
  private readonly waiters = new Map<number, (() => void)[]>();
  private retryTimer: NodeJS.Timeout | undefined;
  private started = 0;
  private progressPosted = 0;
  private progressLogged = 0;

  constructor(private readonly options: FetchingOptions) {
    this.fetcher = new Fetcher({ ...options, onStart: () => this.event({ type: 'started' }), onProgress: (progress) => this.progress(progress) });
  }

  /** Asks for a fetch that starts after this call; resolves when that fetch is over. */
  want(): Promise<void> {
    const run = servedBy(this.state);
    if (run === undefined) return Promise.resolve();
    const answered = this.answerOf(run);
    this.event({ type: 'want' });
    return answered;
  }

  /** True while a fetch waits to start after the running one (it will see any change made now). */
  get queued(): boolean {
    return this.state.queued;
  }

  /** The connection came up (retries may run over it) or went (none will). */
  connection(up: boolean): void {
    this.event({ type: up ? 'connected' : 'disconnected' });
  }

  /** RESUME or RELOAD: the failures so far are forgotten. */
  reset(): void {
    this.event({ type: 'reset' });
  }

  /** Ends the running fetch because the link it runs over is gone (DONESYNCING 0, no WARNING). */
  cancel(why: string): Promise<void> {
    return this.fetcher.cancel(why);
  }

  /** Nothing new starts; the running fetch is ended. Resolves once its DONESYNCING is out. */
  async stop(): Promise<void> {
    this.event({ type: 'stop' });
    this.fetcher.stop();
    if (this.state.running) await this.answerOf(this.state.run);
  }

  private answerOf(run: number): Promise<void> {
    return new Promise<void>((resolve) => this.waiters.set(run, [...(this.waiters.get(run) ?? []), resolve]));
  }

  private event(event: FetchEvent): void {
    const [next, effects] = stepFetch(this.state, event, {
      delay: (failures) => backoffDelay(failures, Math.random(), { maxMs: FETCH_RETRY_MAX_MS }),
    });
    this.state = next;
    for (const effect of effects) this.perform(effect);
  }

  private perform(effect: FetchEffect): void {
    switch (effect.do) {
      case 'run':
        void this.fetcher.run().then((outcome) => this.ended(outcome));
        return;
      case 'emit':
        if (effect.line === 'SYNCING') {
          this.started = Date.now();
          this.progressPosted = 0;
          this.progressLogged = Date.now();
          return this.options.post({ type: 'emit', line: 'SYNCING' });
        }
        this.options.post({ type: 'fetched', ok: effect.ok, updates: effect.updates });
        return this.options.post({ type: 'emit', line: 'DONESYNCING', ok: effect.ok });
      case 'condition':
        return this.options.condition(effect.text);
      case 'served':
        for (const resolve of this.waiters.get(effect.run) ?? []) resolve();
        this.waiters.delete(effect.run);
        return;
      case 'retry-in':
        clearTimeout(this.retryTimer);
        this.options.log(`trying the fetch again in ${(effect.ms / 1000).toFixed(1)} s`);
        this.retryTimer = setTimeout(() => this.event({ type: 'retry-due' }), effect.ms);
        return;
      case 'cancel-retry':
        clearTimeout(this.retryTimer);
        return;
    }
  }

  /** A run is over: git's own account of it to the log, the rest to the machine. */
  private ended(outcome: FetchOutcome | undefined): void {
    // What moved ("a1b2..c3d4  main -> origin/main"), or why it failed.
    if (outcome?.stderr.trim()) this.options.log(`git fetch: ${outcome.stderr.trim()}`);
    const end = outcome && { ok: outcome.ok, cancelled: outcome.cancelled === true, error: gitError(outcome.stderr), updates: outcome.updates };
    this.event({ type: 'ended', ...(end && { outcome: end }) });
    // After DONESYNCING: counting the new commits spawns git, which is no part of the fetch.
    if (outcome?.ok) void this.reportMoved(outcome.stderr);
  }

  /** What the fetch moved, for status: only when it moved anything. */
  private async reportMoved(stderr: string): Promise<void> {
    const moved = parseFetchReport(stderr);
    if (moved.length === 0) return;
    this.options.post({ type: 'moved', summary: describeMoved(await countCommits(this.options.cwd, moved)) });
  }

  /** A long fetch's progress: to status at most once a second, to the log every ten seconds. */
  private progress(progress: FetchProgress): void {
    const now = Date.now();
    if (now - this.progressPosted >= PROGRESS_EVERY_MS) {
      this.progressPosted = now;
      this.options.post({ type: 'fetch-progress', ...progress });
    }
    if (now - this.progressLogged >= PROGRESS_LOG_EVERY_MS) {
      this.progressLogged = now;
      const received = progress.bytes !== undefined ? `, ${formatBytes(progress.bytes)} received` : '';
      this.options.log(`fetching for ${Math.round((now - this.started) / 1000)} s: ${progress.stage} ${progress.percent ?? '?'}%${received}`);
    }
  }
}

/** The line of git's stderr that says what went wrong (git's advice follows it, if any). */
function gitError(stderr: string): string {
  const lines = stderr.trim().split('\n');
  const line = lines.find((l) => /^(fatal|error): /.test(l)) ?? lines.at(-1) ?? '';
  // The server chooses much of it (`remote:` lines): a WARNING stays one readable line.
  return line.length > MAX_WARNING_CHARS ? `${line.slice(0, MAX_WARNING_CHARS)}...` : line;
}
