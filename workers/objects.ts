// "Do we have this object?" and "what does this ref hold?" answered by one
// `git cat-file --batch-check` per worker, rather than a process per question. It reads refs and
// the object store afresh for every question, so answers follow fetches as they land.
//
// Questions come in bursts (a catch-up, a notice, a fetch) with long quiet between, so the process
// is started on the first question of a burst and ended once nothing was asked for IDLE_MS: an idle
// remote keeps no child (a few MB each, times the number of remotes) and no pipes to wake on.

import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { runLongLived } from './children.js';

import { OBJECT_ID } from '../shared/kit/objectid.js';

/** One cat-file process and the questions waiting for its answers, in the order asked. */
interface Batch {
  child: ChildProcess;
  waiting: ((answer: string) => void)[];
}

/** Quiet this long, the cat-file is ended; the next question starts another (~2 ms). */
export const IDLE_MS = 10_000;

export class ObjectChecker {
  private batch: Batch | undefined;
  private closed = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private lastAsked = 0;

  constructor(
    private readonly cwd: string,
    private readonly idleMs = IDLE_MS,
  ) {}

  /** The running cat-file, started on first use and again if it died; never two at once. */
  private current(): Batch {
    if (this.batch && this.batch.child.exitCode === null && this.batch.child.signalCode === null) return this.batch;
    const child = runLongLived('git', ['cat-file', '--batch-check=%(objectname)'], { cwd: this.cwd });
    const batch: Batch = { child, waiting: [] };
    createInterface({ input: child.stdout! }).on('line', (line) => batch.waiting.shift()?.(line));
    child.stdin!.on('error', () => {}); // a dead cat-file answers '' below
    child.once('close', () => {
      for (const answer of batch.waiting.splice(0)) answer('');
      if (this.batch === batch) this.batch = undefined;
    });
    this.batch = batch;
    return batch;
  }

  /** True when the object exists in this repository. */
  async has(sha: string): Promise<boolean> {
    if (!OBJECT_ID.test(sha)) return false;
    return (await this.ask(sha)) === sha;
  }

  /** The object id a full ref name points at, or undefined when there is no such ref. */
  async resolve(ref: string): Promise<string | undefined> {
    // Only full ref names: anything else could be taken for an abbreviated object id or a revision expression.
    if (!/^refs\/[^\s:^~?*[\\]+$/.test(ref)) return undefined;
    const answer = await this.ask(ref);
    return OBJECT_ID.test(answer) ? answer : undefined;
  }

  /** Questions may be asked concurrently: answers come back in the order asked. */
  private ask(name: string): Promise<string> {
    if (this.closed) return Promise.resolve('');
    const batch = this.current();
    this.lastAsked = Date.now();
    // One timer per quiet spell, not one per question: it re-arms itself if asked meanwhile.
    this.idleTimer ??= setTimeout(() => this.endIfIdle(), this.idleMs);
    return new Promise<string>((resolve) => {
      batch.waiting.push(resolve);
      batch.child.stdin!.write(`${name}\n`);
    });
  }

  private endIfIdle(): void {
    this.idleTimer = undefined;
    const batch = this.batch;
    if (!batch) return;
    const quietFor = Date.now() - this.lastAsked;
    if (quietFor < this.idleMs || batch.waiting.length > 0) {
      this.idleTimer = setTimeout(() => this.endIfIdle(), Math.max(this.idleMs - quietFor, 10));
      return;
    }
    this.batch = undefined;
    batch.child.stdin?.end(); // cat-file exits at EOF; questions already answered
  }

  /** Whether a cat-file runs now (tests, and the memory bench). */
  get running(): boolean {
    return this.batch !== undefined;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.idleTimer);
    this.batch?.child.stdin?.end();
    this.batch = undefined;
  }
}
