// The control channel's two halves: reading incoming bytes as bounded lines (src/kit/lines.ts),
// and writing emitted messages one whole line at a time. The stdio mode (--foreground) and the named pipe
// both use them.

import type { Readable, Writable } from 'node:stream';
import { BoundedLines } from './kit/lines.js';
import { MAX_LINE_BYTES, formatEmitted, parseConsumed, DAEMON, type Consumed, type Emitted } from './protocol.js';

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

/** A warning about the control input itself: it names no remote. */
export function badLineWarning(problem: string): Emitted {
  return { type: 'WARNING', remote: DAEMON, text: `bad control message: ${problem}` };
}

/**
 * Writes emitted messages to a stream, each as one write of one whole line, so nothing can tear
 * or interleave them; only the coordinator's thread ever calls it.
 */
export class ControlOutput {
  private closed = false;

  constructor(private readonly output: Writable, private readonly onClosed: () => void = () => {}) {
    output.on('error', () => this.close());
  }

  write(message: Emitted): void {
    this.writeLine(formatEmitted(message));
  }

  writeLine(line: string): void {
    if (this.closed) return;
    this.output.write(`${line}\n`);
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClosed();
  }
}
