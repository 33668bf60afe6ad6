// Runs `git fetch <remote>` for a worker. However many changes arrive, at most one fetch runs and
// one more waits: a change that arrives during a fetch may not be in it, so it earns exactly one
// more fetch, and every later change folds into that same queued one.

import { run, killGroup } from './children.js';

export interface FetchOutcome {
  ok: boolean;
  stderr: string;
}

export interface FetcherOptions {
  remote: string;
  cwd: string;
  /** Environment for the fetch (the transport's tunnel, for ssh). */
  env: () => Promise<Record<string, string>>;
  /** Store fetched refs in FETCH_HEAD too (only when some refspec has no destination). */
  writeFetchHead: boolean;
  onStart(): void;
  onDone(outcome: FetchOutcome): void;
}

export class Fetcher {
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  private pid: number | undefined;
  private stopped = false;
  /** Fetches started, for tests and status. */
  count = 0;

  constructor(private readonly options: FetcherOptions) {}

  /** Asks for a fetch that starts after this call; resolves when that fetch is over. */
  request(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (!this.running) {
      this.running = this.fetchOnce().finally(() => (this.running = undefined));
      return this.running;
    }
    if (!this.queued) {
      this.queued = this.running.then(() => {
        this.queued = undefined;
        return this.request();
      });
    }
    return this.queued;
  }

  /** Resolves when nothing runs or waits. */
  async idle(): Promise<void> {
    while (this.running || this.queued) await (this.queued ?? this.running);
  }

  /** Ends a running fetch (and its children) and refuses new ones. */
  stop(): void {
    this.stopped = true;
    if (this.pid !== undefined) killGroup(this.pid);
  }

  private async fetchOnce(): Promise<void> {
    this.count++;
    this.options.onStart();
    const args = ['fetch', '--quiet'];
    // A user's `git pull` reads FETCH_HEAD right after its own fetch; ours must not rewrite it.
    if (!this.options.writeFetchHead) args.push('--no-write-fetch-head');
    args.push(this.options.remote);
    let outcome: FetchOutcome;
    try {
      const env = { GIT_TERMINAL_PROMPT: '0', ...(await this.options.env()) };
      const subprocess = run('git', args, { cwd: this.options.cwd, env, stdin: 'ignore' });
      void subprocess.nodeChildProcess.then((child) => (this.pid = child.pid), () => {});
      const result = await subprocess;
      outcome = { ok: true, stderr: result.stderr };
    } catch (err) {
      const stderr = (err as { stderr?: string }).stderr ?? '';
      outcome = { ok: false, stderr: stderr || (err as Error).message };
    } finally {
      this.pid = undefined;
    }
    this.options.onDone(outcome);
  }
}
