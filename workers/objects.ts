// "Do we have this object?" and "what does this ref hold?" answered by one long-lived
// `git cat-file --batch-check` per worker, rather than a process per question. It reads refs and
// the object store afresh for every question, so answers follow fetches as they land.

import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { runLongLived } from './children.js';

import { OBJECT_ID } from '../src/kit/objectid.js';

/** One cat-file process and the questions waiting for its answers, in the order asked. */
interface Batch {
  child: ChildProcess;
  waiting: ((answer: string) => void)[];
}

export class ObjectChecker {
  private batch: Batch | undefined;
  private closed = false;

  constructor(private readonly cwd: string) {}

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
    return new Promise<string>((resolve) => {
      batch.waiting.push(resolve);
      batch.child.stdin!.write(`${name}\n`);
    });
  }

  close(): void {
    this.closed = true;
    this.batch?.child.stdin?.end();
    this.batch = undefined;
  }
}
