// The local half of a direct fetch: workers/direct/store.sh, started before the pack arrives,
// given the pack on its stdin as it comes and the plan on fd 3 once it is known. It runs what git
// fetch runs for the same steps (unpack-objects, the connectivity check, the fast-forward check,
// update-ref), one shell for all of them: a Node thread pays ~10 ms for each process it forks.
// The shell is a worker child (children.ts): in its own group, ended with the fetch.

import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { runStreamed } from '../children.js';
import { killGroup } from '../../shared/kit/group.js';
import type { RefMove } from './plan.js';

/** Compiled code runs from dist/workers/direct/; the script ships in workers/direct/ (package.json `files`). */
export const STORE_SCRIPT = fileURLToPath(new URL('../../../workers/direct/store.sh', import.meta.url));

/** What the script's line says when a check failed (store.sh); nothing moved then. */
const FAILED: Record<string, string> = {
  unpack: 'the pack did not unpack',
  plan: 'the plan did not reach the script',
  missing: 'the pack left objects missing',
};
/** Of the script's stderr (git's words), this much is kept. */
const MAX_STDERR = 4096;

export type StoreOutcome = { ok: true } | { ok: false; why: string };

export class Store {
  private readonly child;
  private readonly closed: Promise<[number | null, NodeJS.Signals | null]>;
  private stdout = '';
  private stderr = '';

  constructor(cwd: string, remote: string, strict: boolean, signal: AbortSignal) {
    signal.throwIfAborted();
    this.child = runStreamed('sh', [STORE_SCRIPT, remote, strict ? '1' : '0'], { cwd, stdin: true, stdout: true, fd3: true });
    const kill = () => this.abandon();
    signal.addEventListener('abort', kill, { once: true });
    this.closed = once(this.child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
    void this.closed.finally(() => signal.removeEventListener('abort', kill)).catch(() => {});
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => this.stdout.length < MAX_STDERR && (this.stdout += d));
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => this.stderr.length < MAX_STDERR && (this.stderr += d));
    for (const stream of [this.child.stdin!, this.planStream]) stream.on('error', () => {}); // it exited: finish() says why
  }

  private get planStream(): Writable {
    return this.child.stdio[3] as Writable;
  }

  /** The moves, once known (the script reads them after unpacking). */
  plan(wants: readonly string[], moves: readonly RefMove[]): void {
    const lines = [
      ...wants.map((w) => `tip ${w}`),
      ...moves.map((m) => (m.old === undefined ? `new ${m.dst} ${m.new}` : `ff ${m.dst} ${m.old} ${m.new}`)),
      'end',
    ];
    this.planStream.end(`${lines.join('\n')}\n`);
  }

  /** Part of the pack; resolves when more may follow (unpack-objects reads as fast as it stores). */
  async write(chunk: Buffer): Promise<void> {
    const stdin = this.child.stdin!;
    if (stdin.destroyed) return;
    if (!stdin.write(chunk)) await Promise.race([once(stdin, 'drain').catch(() => {}), this.closed]); // an error: finish() says why
  }

  /** The pack is complete: resolves when the refs moved, or with the step that failed and git's words. */
  async finish(): Promise<StoreOutcome> {
    this.child.stdin!.end();
    // Without a plan (never given), the script would wait for fd 3 for ever: ended, it says `plan`.
    if (!this.planStream.writableEnded) this.planStream.end();
    const [code, signal] = await this.closed;
    const [said = '', ...after] = this.stdout.trim().split('\n');
    const words = this.stderr.trim().split('\n').pop();
    const because = (why: string) => ({ ok: false as const, why: words ? `${why}: ${words}` : why });
    if (said === 'checked') {
      if (code === 0 && !after.includes('refused')) return { ok: true };
      return because('a ref could not be moved');
    }
    if (said.startsWith('rewritten ')) return { ok: false, why: `${said.slice('rewritten '.length)} is not a fast-forward` };
    return because(FAILED[said] ?? `store.sh ended with ${code ?? signal}`);
  }

  /** Not needed after all (nothing to fetch, or git fetch's): ended with whatever it started. */
  abandon(): void {
    if (this.child.exitCode === null && this.child.signalCode === null && this.child.pid !== undefined) killGroup(this.child.pid, 'SIGKILL');
  }
}

/** git fetch's report of what moved (`From <url>`, then a line per ref), as fetchreport.ts reads it. */
export function fetchReport(url: string, moves: readonly RefMove[]): string {
  const short = (ref: string) => ref.replace(/^refs\/(heads|remotes)\//, '');
  const width = Math.max(...moves.map((m) => short(m.src).length));
  const lines = moves.map((m) => {
    const summary = m.old === undefined ? '[new branch]' : `${m.old.slice(0, 7)}..${m.new.slice(0, 7)}`;
    return ` ${m.old === undefined ? '*' : ' '} ${summary.padEnd(17)} ${short(m.src).padEnd(width)} -> ${short(m.dst)}`;
  });
  return [`From ${url}`, ...lines].join('\n');
}
