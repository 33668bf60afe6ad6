// "Do we have this object?" and "what does this ref hold?" answered by one long-lived
// `git cat-file --batch-check` per worker, rather than a process per question. It reads refs and
// the object store afresh for every question, so answers follow fetches as they land.

import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { run } from './children.js';

export class ObjectChecker {
  private child: ChildProcess | undefined;
  private readonly waiting: ((line: string) => void)[] = [];

  constructor(private readonly cwd: string) {}

  private async process(): Promise<ChildProcess> {
    if (this.child && this.child.exitCode === null && !this.child.killed) return this.child;
    const subprocess = run('git', ['cat-file', '--batch-check=%(objectname)'], { cwd: this.cwd });
    subprocess.catch(() => {}); // it ends when we close it; failures surface as missing answers
    const child = await subprocess.nodeChildProcess;
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => this.waiting.shift()?.(line));
    child.once('exit', () => {
      for (const answer of this.waiting.splice(0)) answer('');
      if (this.child === child) this.child = undefined;
    });
    this.child = child;
    return child;
  }

  /** True when the object exists in this repository. */
  async has(sha: string): Promise<boolean> {
    if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(sha)) return false;
    return (await this.ask(sha)) === sha;
  }

  /** The object id a full ref name points at, or undefined when there is no such ref. */
  async resolve(ref: string): Promise<string | undefined> {
    // Only full ref names: anything else could be taken for an abbreviated object id or a revision expression.
    if (!/^refs\/[^\s:^~?*[\\]+$/.test(ref)) return undefined;
    const answer = await this.ask(ref);
    return /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(answer) ? answer : undefined;
  }

  /** Questions may be asked concurrently: answers come back in the order asked. */
  private async ask(name: string): Promise<string> {
    const child = await this.process();
    const answer = new Promise<string>((resolve) => this.waiting.push(resolve));
    child.stdin!.write(`${name}\n`);
    return answer;
  }

  close(): void {
    this.child?.stdin?.end();
    this.child = undefined;
  }
}
