// What the starter makes of a starting daemon, decided without a process: the daemon reports on fd 3
// (WARNING lines, then one line that ends the report: READY, ALREADY or ERROR), and may instead exit,
// fail to start, or say nothing in time. start.ts feeds what happens; this says when it is over and
// what the user is told, and test/background/startreport.test.ts walks it.

/** How the start ended, before it is put into words for the user (interpret, in start.ts). */
export type StartAnswer =
  /** The line that ended the report, and the warnings before it. */
  | { kind: 'line'; line: string; warnings: string[] }
  /** It ended without that line: the user is told this. */
  | { kind: 'failed'; message: string };

export class StartReport {
  private text = '';
  private readonly warnings: string[] = [];
  private exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private closed = false;
  /** Set once the start is over; later events change nothing. */
  answer: StartAnswer | undefined;

  constructor(private readonly logPath: string, private readonly timeoutMs: number) {}

  /** Bytes from fd 3. */
  data(chunk: string): StartAnswer | undefined {
    if (this.answer) return this.answer;
    this.text += chunk;
    for (let newline = this.text.indexOf('\n'); newline >= 0; newline = this.text.indexOf('\n')) {
      const line = this.text.slice(0, newline);
      this.text = this.text.slice(newline + 1);
      if (line.startsWith('WARNING ')) this.warnings.push(line.slice('WARNING '.length));
      else return (this.answer = { kind: 'line', line, warnings: this.warnings });
    }
    return undefined;
  }

  /** fd 3 reached its end: whatever the daemon wrote before exiting has arrived. */
  reportClosed(): StartAnswer | undefined {
    this.closed = true;
    return this.settleExit();
  }

  /** The daemon process ended. Its last line may still be in the pipe: over once that has closed too. */
  exited(code: number | null, signal: NodeJS.Signals | null): StartAnswer | undefined {
    this.exit = { code, signal };
    return this.settleExit();
  }

  /** The daemon could not be started at all. */
  spawnFailed(program: string, message: string): StartAnswer {
    return (this.answer ??= { kind: 'line', line: `ERROR could not start ${program}: ${message}`, warnings: this.warnings });
  }

  /** The time for a report is up (the starter ends the daemon rather than leave it half-started). */
  timedOut(): StartAnswer {
    return (this.answer ??= {
      kind: 'line',
      line: `ERROR the daemon did not report within ${this.timeoutMs / 1000} s; see ${this.logPath}`,
      warnings: this.warnings,
    });
  }

  private settleExit(): StartAnswer | undefined {
    if (this.answer) return this.answer;
    if (!this.exit || !this.closed) return undefined;
    const how = this.exit.signal ? `was killed by ${this.exit.signal}` : `exited with code ${this.exit.code}`;
    return (this.answer = { kind: 'failed', message: `the daemon ${how} while starting; see ${this.logPath}` });
  }
}
