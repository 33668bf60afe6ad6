// Runs one `git fetch <remote>` for a worker (its command line: fetchargs.ts): through the
// connection's plan, its stderr read in chunks (progress, a bounded tail), ended when it stalls, is
// cancelled or the worker stops. When to fetch (one running, one queued, retries) is decided by
// fetchmachine.ts; this only carries a run out.

import { zeroIdLike } from '../shared/kit/objectid.js';
import { DEFAULT_FETCH_STALL_SECONDS, type RefUpdate } from '../shared/workerapi.js';
import { runStreamed } from './children.js';
import { killGroup } from '../shared/kit/group.js';
import { STDERR_TAIL_CHARS, TailBuffer } from './tail.js';
import { fetchArgs, fetchEnv } from './fetchargs.js';
import { ProgressReader, withoutProgress, type FetchProgress } from './progress.js';
import type { DirectFetchRequest, DirectFetchResult, FetchPlan, RefMap } from '../shared/transport.js';

export interface FetchOutcome {
  ok: boolean;
  stderr: string;
  /** Local refs the fetch moved (empty without a `snapshot` option). */
  updates: RefUpdate[];
  /** Ended by cancel(): the connection it ran over is gone, which is said where it ended. */
  cancelled?: boolean;
}

export interface FetcherOptions {
  remote: string;
  /** The remote's URL and the git dir: a plan's direct fetch needs them (without, git fetch runs). */
  url?: string;
  cwd: string;
  gitDir?: string;
  /** How to fetch through the transport's connection; undefined: not connected now, skip it. */
  plan: () => Promise<FetchPlan | undefined>;
  /** Store fetched refs in FETCH_HEAD too (only when some refspec has no destination). */
  writeFetchHead: boolean;
  /** Reads the local refs this fetch can write, before and after, to tell what moved; undefined: not wanted now. */
  snapshot?: () => (() => Promise<RefMap>) | undefined;
  /** git fetch is about to start (a plan was had): SYNCING. */
  onStart(): void;
  /** git's progress while the fetch runs (every update: the caller decides how often to pass it on). */
  onProgress?(progress: FetchProgress): void;
  /** A fetch that receives nothing on git's stderr for this long is ended (a failure); read at each start. */
  stallMs?: () => number;
  /** Why a direct fetch left this one to git fetch (said when the reason changes). */
  log?(text: string): void;
}

/** After SIGTERM (git removes its lock files on it), the group gets SIGKILL this much later. */
const KILL_GRACE_MS = 2000;

export class Fetcher {
  private pid: number | undefined;
  private stopped = false;
  /** Why the running fetch is being ended (cancel), if it is. */
  private cancelling: string | undefined;
  /** The run under way, if any. */
  private current: Promise<unknown> | undefined;
  /** Ends the direct fetch under way, if one is. */
  private directAbort: AbortController | undefined;
  /** The last reason a direct fetch gave way to git fetch, said once until it changes. */
  private lastFallback: string | undefined;
  /** Fetches started, for tests and status. */
  count = 0;

  constructor(private readonly options: FetcherOptions) {}

  /**
   * One fetch through the connection's plan; its outcome, or undefined when none ran (not
   * connected, or stopped). Never rejects: whatever went wrong is a failed outcome.
   */
  run(): Promise<FetchOutcome | undefined> {
    this.cancelling = undefined;
    const run = this.fetchOnce().catch((err: unknown): FetchOutcome => ({ ok: false, stderr: `error: ${err instanceof Error ? err.message : String(err)}`, updates: [] }));
    this.current = run;
    void run.finally(() => this.current === run && (this.current = undefined));
    return run;
  }

  /** Ends a running fetch (and its children) and refuses new ones. */
  stop(): void {
    this.stopped = true;
    this.directAbort?.abort(new Error('stopped'));
    if (this.pid !== undefined) killGroup(this.pid);
  }

  /**
   * Ends the running fetch (and its children), if any, because what it runs over is gone; it fails
   * saying `why`. Later runs are made as usual. Resolves when it has ended.
   */
  async cancel(why: string): Promise<void> {
    if (this.current === undefined) return;
    this.cancelling = why;
    if (this.directAbort) this.directAbort.abort(new Error(why));
    else if (this.pid !== undefined) {
      const pid = this.pid;
      killGroup(pid, 'SIGTERM');
      setTimeout(() => this.pid === pid && killGroup(pid, 'SIGKILL'), KILL_GRACE_MS).unref();
    }
    // Else it has not started anything yet (it is asking for its plan, or reading the refs): it
    // starts nothing now (fetchOnce looks before each start) and ends cancelled.
    await this.current;
  }

  /** The outcome of a run that `cancel` ended before it started git or a direct fetch. */
  private endedBeforeStart(): FetchOutcome {
    const why = this.cancelling!;
    this.cancelling = undefined;
    return cancelledOutcome(why);
  }

  private async fetchOnce(): Promise<FetchOutcome | undefined> {
    let plan: FetchPlan | undefined;
    try {
      plan = await this.options.plan();
    } catch {
      plan = undefined;
    }
    // Not connected (or stopping, or the connection went while we asked): no fetch, no SYNCING.
    if (plan === undefined || this.stopped || this.cancelling !== undefined) return undefined;
    this.count++;
    this.options.onStart();
    const args = fetchArgs({ remote: this.options.remote, writeFetchHead: this.options.writeFetchHead, gitArgs: plan.gitArgs });
    let outcome: FetchOutcome;
    const before = await this.readSnapshot();
    if (this.stopped) {
      // Stopped while reading the snapshot: start nothing the stop could no longer end.
      return { ok: false, stderr: 'stopped', updates: [] };
    }
    if (this.cancelling !== undefined) return this.endedBeforeStart();
    const env = { ...process.env, GIT_TERMINAL_PROMPT: '0', ...fetchEnv(this.options.remote), ...plan.env };
    const stallMs = this.options.stallMs?.() ?? DEFAULT_FETCH_STALL_SECONDS * 1000;
    const { url, gitDir } = this.options;
    const direct = plan.direct && url !== undefined && gitDir !== undefined && (await this.runDirect(plan.direct, url, gitDir, stallMs));
    if (direct) {
      if (before) direct.updates = diffRefs(before, (await this.readSnapshot()) ?? before);
      return direct;
    }
    if (this.stopped) return { ok: false, stderr: 'stopped', updates: [] };
    if (this.cancelling !== undefined) return this.endedBeforeStart();
    const result = await this.runGit(args, env, stallMs);
    this.pid = undefined;
    const cancelled = this.cancelling;
    this.cancelling = undefined;
    const stderr = withoutProgress(result.stderr);
    if (cancelled !== undefined) {
      outcome = cancelledOutcome(cancelled);
    } else if (result.stalled) {
      const said = stalledText(stallMs);
      outcome = { ok: false, stderr: stderr ? `${stderr}\n${said}` : said, updates: [] };
    } else if (result.error) {
      outcome = { ok: false, stderr: stderr || result.error.message, updates: [] };
    } else {
      const ok = result.code === 0;
      outcome = { ok, stderr: stderr || (ok ? '' : `git fetch ended with ${result.code ?? result.signal}`), updates: [] };
    }
    // A failed fetch may still have updated some refs before it failed: report those too.
    if (before) outcome.updates = diffRefs(before, (await this.readSnapshot()) ?? before);
    return outcome;
  }

  /**
   * The connection's own way to fetch, tried before git fetch: its outcome, or undefined when git
   * fetch must do it (said in the log when the reason is new). Ended like git fetch would be: by a
   * stop, a cancel, or silence from the server past `stallMs`.
   */
  private async runDirect(direct: (request: DirectFetchRequest) => Promise<DirectFetchResult>, url: string, gitDir: string, stallMs: number): Promise<FetchOutcome | undefined> {
    const controller = new AbortController();
    this.directAbort = controller;
    let stalled = false;
    let stallTimer: NodeJS.Timeout | undefined;
    const armStall = () => {
      clearTimeout(stallTimer);
      stallTimer = setTimeout(() => {
        stalled = true;
        controller.abort(new Error('stalled'));
      }, stallMs);
    };
    armStall();
    const progress = this.options.onProgress && new ProgressReader(this.options.onProgress);
    try {
      const result = await direct({
        remote: this.options.remote,
        url,
        cwd: this.options.cwd,
        gitDir,
        writeFetchHead: this.options.writeFetchHead,
        signal: controller.signal,
        onProgress: (line) => progress?.push(`${line}\n`),
        onData: armStall,
      });
      if (result.carried) return { ok: true, stderr: result.report, updates: [] };
      if (result.why !== this.lastFallback) this.options.log?.(`fetching with git fetch: ${result.why}`);
      this.lastFallback = result.why;
      return undefined;
    } catch (err) {
      const cancelled = this.cancelling;
      this.cancelling = undefined;
      if (cancelled !== undefined) return cancelledOutcome(cancelled);
      if (stalled) return { ok: false, stderr: stalledText(stallMs), updates: [] };
      return { ok: false, stderr: `error: ${err instanceof Error ? err.message : String(err)}`, updates: [] };
    } finally {
      clearTimeout(stallTimer);
      this.directAbort = undefined;
    }
  }

  /**
   * Runs git, reading its stderr in chunks as it comes: progress is passed on, a bounded tail is
   * kept (a server's endless `remote:` stream costs no more), and silence past `stallMs` ends it.
   */
  private runGit(args: string[], env: NodeJS.ProcessEnv, stallMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; stalled: boolean; error?: Error }> {
    return new Promise((resolve) => {
      const child = runStreamed('git', args, { cwd: this.options.cwd, env });
      this.pid = child.pid;
      const tail = new TailBuffer(STDERR_TAIL_CHARS);
      const progress = this.options.onProgress && new ProgressReader(this.options.onProgress);
      let stalled = false;
      let error: Error | undefined;
      let killTimer: NodeJS.Timeout | undefined;
      let stallTimer: NodeJS.Timeout | undefined;
      const armStall = () => {
        clearTimeout(stallTimer);
        stallTimer = setTimeout(() => {
          stalled = true;
          if (child.pid === undefined) return;
          killGroup(child.pid, 'SIGTERM');
          killTimer = setTimeout(() => child.pid !== undefined && killGroup(child.pid, 'SIGKILL'), KILL_GRACE_MS);
        }, stallMs);
      };
      armStall();
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
        armStall();
        tail.push(chunk);
        progress?.push(chunk);
      });
      child.once('error', (err) => (error = err));
      child.once('close', (code, signal) => {
        clearTimeout(stallTimer);
        clearTimeout(killTimer);
        if (stalled && child.pid !== undefined) killGroup(child.pid, 'SIGKILL'); // what outlived git
        resolve({ code, signal, stderr: tail.text(), stalled, ...(error && { error }) });
      });
    });
  }

  private async readSnapshot(): Promise<RefMap | undefined> {
    const read = this.options.snapshot?.();
    if (!read) return undefined;
    try {
      return await read();
    } catch {
      return undefined; // the fetch matters more than knowing what it moved
    }
  }
}

/** A run that cancel() ended: it fails saying why (the connection it ran over is gone). */
function cancelledOutcome(why: string): FetchOutcome {
  return { ok: false, stderr: `error: the fetch was ended: ${why}`, updates: [], cancelled: true };
}

function stalledText(stallMs: number): string {
  return `error: the remote sent nothing for ${stallMs / 1000} s; the fetch was ended (remotedaemon.fetchStallTimeout)`;
}

/** The refs whose value differs between two snapshots, sorted by name. */
export function diffRefs(before: RefMap, after: RefMap): RefUpdate[] {
  const updates: RefUpdate[] = [];
  for (const [ref, sha] of after) {
    const old = before.get(ref);
    if (old !== sha) updates.push({ ref, old: old ?? zeroIdLike(sha), new: sha });
  }
  for (const [ref, old] of before) if (!after.has(ref)) updates.push({ ref, old, new: zeroIdLike(old) });
  return updates.sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0));
}
