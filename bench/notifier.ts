// Notifier latency: the time from `git update-ref` returning to the CHANGED line naming the new
// value being readable, for our notifier and for `git-annex-shell notifychanges`, side by side on
// the same repository and the same updates. Both run locally (no ssh), so this is the notifier's
// own cost: inotify, batching, the write.
//
//   node dist/bench/notifier.js          (or through `npm run bench`)

import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseNotifyLine } from '../shared/notifywire.js';

const UPDATES = 50;
/**
 * Pause between updates, so that each is the first change of a quiet period (the case that matters:
 * a push after a lull) rather than a follow-up held back by our 20 ms coalescing window.
 */
const QUIET_MS = 60;
const CHECKOUT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const ENV = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_AUTHOR_NAME: 'Bench',
  GIT_AUTHOR_EMAIL: 'bench@example.invalid',
  GIT_COMMITTER_NAME: 'Bench',
  GIT_COMMITTER_EMAIL: 'bench@example.invalid',
};

/** A notifier process whose CHANGED lines are timestamped the moment they are read. */
class Session {
  private buffered = '';
  private readonly seen = new Map<string, number>();
  private readonly waiters = new Map<string, (at: number) => void>();
  private ready!: () => void;
  readonly isReady = new Promise<void>((r) => (this.ready = r));
  readonly child: ChildProcess;
  stderr = '';

  constructor(readonly name: string, argv: string[], cwd: string) {
    // stderr is kept, not shown: git-annex-shell complains about the end of stdin when it is closed.
    this.child = spawn(argv[0]!, argv.slice(1), { cwd, env: ENV, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const at = performance.now();
      this.buffered += chunk;
      let nl: number;
      while ((nl = this.buffered.indexOf('\n')) >= 0) {
        const parsed = parseNotifyLine(this.buffered.slice(0, nl));
        this.buffered = this.buffered.slice(nl + 1);
        if (parsed?.type === 'READY') this.ready();
        if (parsed?.type !== 'CHANGED') continue;
        for (const sha of parsed.shas) {
          const waiter = this.waiters.get(sha);
          if (waiter) {
            this.waiters.delete(sha);
            waiter(at);
          } else this.seen.set(sha, at);
        }
      }
    });
  }

  /** When a CHANGED line naming `sha` was read (waits for it, up to 10 s). */
  arrival(sha: string): Promise<number> {
    const at = this.seen.get(sha);
    if (at !== undefined) return Promise.resolve(at);
    return new Promise((resolveAt, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no CHANGED line for ${sha}; stderr: ${this.stderr}`)), 10_000);
      this.waiters.set(sha, (t) => {
        clearTimeout(timer);
        resolveAt(t);
      });
    });
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
  }
}

/** Runs `git update-ref` and resolves with the moment its exit was observed. */
function updateRef(repo: string, ref: string, sha: string): Promise<number> {
  return new Promise((resolveAt, reject) => {
    execFile('git', ['update-ref', ref, sha], { cwd: repo, env: ENV }, (err) => (err ? reject(err) : resolveAt(performance.now())));
  });
}

function within<T>(promise: Promise<T>, ms: number, why: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(why())), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function stats(samples: number[]): { median: number; p90: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  const median = sorted.length % 2 ? at(0.5) : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
  return { median, p90: at(0.9) };
}

export async function benchNotifier(): Promise<void> {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'grd-bench-notifier-')));
  const repo = join(root, 'r.git');
  const sessions: Session[] = [];
  try {
    execFileSync('git', ['init', '-q', '--bare', repo], { env: ENV });
    execFileSync('git', ['annex', 'init', '-q', 'bench'], { cwd: repo, env: ENV, stdio: 'ignore' });
    // Every update points a fresh ref at a fresh object, so every sha is news to both notifiers.
    const input = Array.from({ length: UPDATES + 1 }, (_, i) => `update ${i} ${Math.random()}`);
    const shas = input.map((text) => execFileSync('git', ['hash-object', '-w', '--stdin'], { cwd: repo, env: ENV, input: text }).toString().trim());

    const ours = new Session('git-remote-daemon notifychanges', [process.execPath, join(CHECKOUT, 'bin/git-remote-daemon'), 'notifychanges', repo], root);
    const annex = new Session('git-annex-shell notifychanges', ['git-annex-shell', 'notifychanges', repo], root);
    sessions.push(ours, annex);
    await Promise.all(sessions.map((s) => within(s.isReady, 15_000, () => `${s.name} never said READY; stderr: ${s.stderr}`)));
    // git-annex-shell reports the refs it finds at start-up; a first update gets both past that.
    await updateRef(repo, 'refs/tags/warmup', shas[UPDATES]!);
    await Promise.all(sessions.map((s) => s.arrival(shas[UPDATES]!)));

    const samples = new Map<Session, number[]>(sessions.map((s) => [s, []]));
    for (let i = 0; i < UPDATES; i++) {
      await new Promise((r) => setTimeout(r, QUIET_MS));
      const returned = await updateRef(repo, `refs/tags/u${i}`, shas[i]!);
      for (const s of sessions) {
        // A line can be read before the exit of update-ref is: that counts as no delay at all.
        samples.get(s)!.push(Math.max(0, (await s.arrival(shas[i]!)) - returned));
      }
    }

    const ourStats = stats(samples.get(ours)!);
    const annexStats = stats(samples.get(annex)!);
    const width = Math.max(...sessions.map((s) => s.name.length));
    const row = (s: Session, st: { median: number; p90: number }) =>
      `  ${s.name.padEnd(width)}  median ${st.median.toFixed(1).padStart(6)} ms   p90 ${st.p90.toFixed(1).padStart(6)} ms`;
    console.log(`notifier: git update-ref returned -> CHANGED line readable, ${UPDATES} updates, local repository`);
    console.log(row(ours, ourStats));
    console.log(row(annex, annexStats));
    const ratio = annexStats.median / Math.max(ourStats.median, 0.01);
    console.log(`  ratio (git-annex-shell / ours, medians): ${ratio.toFixed(1)}x`);
  } finally {
    await Promise.all(sessions.map((s) => s.close()));
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await benchNotifier();
}
