// The control channel's two halves: reading incoming bytes as bounded lines (shared/kit/lines.ts),
// and writing emitted messages one whole line at a time. The stdio mode (--foreground) and the named pipe
// both use them.

import type { Readable, Writable } from 'node:stream';
import { BoundedLines } from '../shared/kit/lines.js';
import { MAX_LINE_BYTES, formatEmitted, parseConsumed, type Consumed, type Emitted } from './protocol.js';

export interface ControlInputOptions {
  onMessage(message: Consumed): void;
  /** A line that is not a valid message: reported, never acted on. */
  onBadLine(problem: string): void;
  onEnd?(): void;
}

/** Parses each line as a consumed message; bad and over-long lines go to onBadLine. */
export function controlLineSplitter(options: Pick<ControlInputOptions, 'onMessage' | 'onBadLine'>): BoundedLines {
  return new BoundedLines({
    line(line) {
      const parsed = parseConsumed(line);
      if (parsed.ok) options.onMessage(parsed.message);
      else options.onBadLine(parsed.error);
    },
    overlong(bytes) {
      options.onBadLine(`line of ${bytes} bytes is longer than the ${MAX_LINE_BYTES} allowed; ignored`);
    },
  }, MAX_LINE_BYTES);
}

/** Reads consumed messages from a stream (stdin, or one writer of the named pipe). */
export function readControl(input: Readable, options: ControlInputOptions): () => void {
  const splitter = controlLineSplitter(options);
  const onData = (chunk: Buffer | string) => splitter.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  const onEnd = () => {
    splitter.end();
    options.onEnd?.();
  };
  input.on('data', onData);
  input.once('end', onEnd);
  input.once('error', onEnd);
  return () => {
    input.off('data', onData);
    input.off('end', onEnd);
  };
}

/** What a bad control line is answered with, in a WARNING about the daemon itself (`*`). */
export function badLineText(problem: string): string {
  return `bad control message: ${problem}`;
}

/** Where emitted messages go besides a stream: the line as written, and the message it says. */
export type EmittedTo = (message: Emitted, line: string) => void;

/**
 * The control channel's output: each emitted message as one write of one whole line, so nothing
 * can tear or interleave them. It has one writer, the protocol gate (src/gate.ts): `claim()` hands
 * out the only way to write, once, and the daemon gives it to the coordinator's gate. A second
 * claim throws, so a second door cannot be added without a test failing (test/gate-door.test.ts).
 */
export class ControlOutput {
  private closed = false;
  private claimed = false;
  private readonly deliver: EmittedTo;

  /** To a stream (stdout), or to a function that gets each message and its line (the log, metrics). */
  constructor(output: Writable | EmittedTo, private readonly onClosed: () => void = () => {}) {
    if (typeof output === 'function') {
      this.deliver = output;
      return;
    }
    output.on('error', () => this.close());
    this.deliver = (_message, line) => {
      if (!this.closed) output.write(`${line}\n`);
    };
  }

  /** The one writer of this output, for the protocol gate; only the coordinator's thread calls it. */
  claim(): (message: Emitted) => void {
    if (this.claimed) throw new Error('the control output has its writer already: only the protocol gate writes protocol lines');
    this.claimed = true;
    return (message) => this.deliver(message, formatEmitted(message));
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClosed();
  }
}
