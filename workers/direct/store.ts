// The local half of a direct fetch, each step the git command git fetch itself runs for it:
// unpack-objects for the pack (with --strict where fsckObjects is on), the connectivity check
// (`rev-list --objects --stdin --not --all`), merge-base for "is it a fast-forward", and the ref
// updates through update-ref, one transaction per ref and the reflog message git fetch writes.
// Every process is a worker child (children.ts): in its own group, ended with the fetch.

import { once } from 'node:events';
import { runStreamed } from '../children.js';
import { killGroup } from '../../shared/kit/group.js';
import { zeroIdLike } from '../../shared/kit/objectid.js';
import type { LocalRefs, RefMove } from './plan.js';

/** What a git command printed, at most this much of each stream (our own refs, not the remote's words). */
const MAX_OUTPUT = 64 * 1024 * 1024;

export interface GitResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs git in `cwd`, `input` on its stdin; ended (SIGKILL to its group) when `signal` aborts. */
export async function git(cwd: string, args: readonly string[], signal: AbortSignal, input?: string): Promise<GitResult> {
  signal.throwIfAborted();
  const child = runStreamed('git', args, { cwd, stdout: true, stdin: input !== undefined });
  const kill = () => child.pid !== undefined && killGroup(child.pid, 'SIGKILL');
  signal.addEventListener('abort', kill, { once: true });
  const out = { stdout: '', stderr: '' };
  const keep = (which: 'stdout' | 'stderr') => (chunk: string) => {
    if (out[which].length < MAX_OUTPUT) out[which] += chunk;
  };
  child.stdout!.setEncoding('utf8').on('data', keep('stdout'));
  child.stderr!.setEncoding('utf8').on('data', keep('stderr'));
  if (input !== undefined) {
    child.stdin!.on('error', () => {}); // it exited early: its status says why
    child.stdin!.end(input);
  }
  try {
    const [code] = (await once(child, 'close')) as [number | null];
    signal.throwIfAborted();
    return { code, ...out };
  } finally {
    signal.removeEventListener('abort', kill);
  }
}

async function gitOk(cwd: string, args: readonly string[], signal: AbortSignal, input?: string): Promise<string> {
  const result = await git(cwd, args, signal, input);
  if (result.code !== 0) throw new Error(`git ${args[0]}: ${result.stderr.trim().split('\n').pop() || `exit ${result.code}`}`);
  return result.stdout;
}

/** The repository's config as git reads it (`git config -z --list`). */
export function readConfig(cwd: string, signal: AbortSignal): Promise<string> {
  return gitOk(cwd, ['config', '-z', '--list'], signal);
}

/** The local refs under `prefixes` (symbolic refs left out), and the tags. */
export async function readLocalRefs(cwd: string, prefixes: readonly string[], signal: AbortSignal): Promise<LocalRefs> {
  const text = await gitOk(cwd, ['for-each-ref', '--format=%(objectname) %(symref) %(refname)', ...prefixes, 'refs/tags/'], signal);
  const local: LocalRefs = { tracking: new Map(), tags: new Set() };
  for (const line of text.split('\n')) {
    const [sha, symref, ref] = line.split(' ');
    if (!sha || !ref || symref) continue;
    if (ref.startsWith('refs/tags/')) local.tags.add(ref);
    else local.tracking.set(ref, sha);
  }
  return local;
}

/** `git unpack-objects` taking a pack as it arrives. */
export class Unpacker {
  private readonly child;
  private readonly closed: Promise<[number | null]>;
  private stderr = '';

  constructor(cwd: string, strict: boolean, signal: AbortSignal) {
    this.child = runStreamed('git', ['unpack-objects', '-q', ...(strict ? ['--strict'] : [])], { cwd, stdin: true });
    const kill = () => this.child.pid !== undefined && killGroup(this.child.pid, 'SIGKILL');
    signal.addEventListener('abort', kill, { once: true });
    this.closed = once(this.child, 'close') as Promise<[number | null]>;
    void this.closed.finally(() => signal.removeEventListener('abort', kill)).catch(() => {});
    this.child.stdin!.on('error', () => {}); // it died: finish() says why
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      if (this.stderr.length < 4096) this.stderr += d;
    });
  }

  /** Writes `chunk`; resolves when more may follow. */
  async write(chunk: Buffer): Promise<void> {
    const stdin = this.child.stdin!;
    if (stdin.destroyed) return;
    if (!stdin.write(chunk)) await Promise.race([once(stdin, 'drain'), this.closed]);
  }

  /** Not needed after all (nothing to fetch, or git fetch's): ended unread. */
  abandon(): void {
    if (this.child.exitCode === null && this.child.signalCode === null && this.child.pid !== undefined) killGroup(this.child.pid, 'SIGKILL');
  }

  /** The pack is complete: resolves once every object is stored, rejects with git's reason. */
  async finish(): Promise<void> {
    this.child.stdin!.end();
    const [code] = await this.closed;
    if (code !== 0) throw new Error(`git unpack-objects: ${this.stderr.trim().split('\n').pop() || `exit ${code}`}`);
  }
}

/** git fetch's connectivity check: everything `tips` reach is here, or reachable from a ref. */
export async function connected(cwd: string, tips: readonly string[], signal: AbortSignal): Promise<boolean> {
  const result = await git(cwd, ['rev-list', '--objects', '--stdin', '--not', '--all', '--quiet'], signal, tips.map((t) => `${t}\n`).join(''));
  return result.code === 0;
}

/** True when `old` is an ancestor of `new` (a fast-forward); false for a rewrite or a non-commit. */
export async function isFastForward(cwd: string, old: string, next: string, signal: AbortSignal): Promise<boolean> {
  return (await git(cwd, ['merge-base', '--is-ancestor', old, next], signal)).code === 0;
}

/**
 * Moves the refs, each in a transaction of its own and only from the value read (update-ref's
 * old-value check), with git fetch's reflog message: "fetch <remote>: fast-forward" or, for a new
 * ref, "storing head".
 */
export async function updateRefs(cwd: string, remote: string, moves: readonly RefMove[], signal: AbortSignal): Promise<void> {
  for (const kind of ['storing head', 'fast-forward'] as const) {
    const these = moves.filter((m) => (m.old === undefined) === (kind === 'storing head'));
    if (these.length === 0) continue;
    const input = these.map((m) => `start\nupdate ${m.dst} ${m.new} ${m.old ?? zeroIdLike(m.new)}\ncommit\n`).join('');
    await gitOk(cwd, ['update-ref', '--stdin', '-m', `fetch ${remote}: ${kind}`], signal, input);
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
