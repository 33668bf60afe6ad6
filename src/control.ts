// The control channel's two halves: splitting incoming bytes into bounded lines, and writing
// emitted messages one whole line at a time. The stdio mode (--foreground) and the named pipe
// both use them.

import { StringDecoder } from 'node:string_decoder';
import type { Readable, Writable } from 'node:stream';
import { MAX_LINE_BYTES, formatEmitted, parseConsumed, DAEMON, type Consumed, type Emitted } from './protocol.js';

export interface LineSplitterEvents {
  line(line: string): void;
  /** A line longer than MAX_LINE_BYTES: its bytes were dropped up to the next newline. */
  overlong(bytes: number): void;
}

/**
 * Splits a byte stream into lines without ever holding more than MAX_LINE_BYTES of one line.
 * Each line is decoded as UTF-8 on its own, so a multibyte character split across chunks is fine
 * and invalid bytes become U+FFFD (which the parser refuses).
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  private dropping = 0;

  constructor(private readonly events: LineSplitterEvents, private readonly maxBytes = MAX_LINE_BYTES) {}

  push(chunk: Buffer): void {
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(0x0a, start);
      const end = newline < 0 ? chunk.length : newline;
      this.take(chunk.subarray(start, end));
      if (newline < 0) return;
      this.finishLine();
      start = newline + 1;
    }
  }

  /** End of input: a last line without a newline still counts. */
  end(): void {
    if (this.size > 0 || this.dropping > 0) this.finishLine();
  }

  private take(bytes: Buffer): void {
    if (bytes.length === 0) return;
    if (this.dropping > 0 || this.size + bytes.length > this.maxBytes) {
      this.dropping += this.size + bytes.length;
      this.parts = [];
      this.size = 0;
      return;
    }
    this.parts.push(Buffer.from(bytes));
    this.size += bytes.length;
  }

  private finishLine(): void {
    if (this.dropping > 0) {
      const dropped = this.dropping;
      this.dropping = 0;
      this.events.overlong(dropped);
      return;
    }
    const decoder = new StringDecoder('utf8');
    const line = decoder.write(Buffer.concat(this.parts, this.size)) + decoder.end();
    this.parts = [];
    this.size = 0;
    this.events.line(line);
  }
}

export interface ControlInputOptions {
  onMessage(message: Consumed): void;
  /** A line that is not a valid message: reported, never acted on. */
  onBadLine(problem: string): void;
  onEnd?(): void;
}

/** Parses each line as a consumed message; bad and over-long lines go to onBadLine. */
export function controlLineSplitter(options: Pick<ControlInputOptions, 'onMessage' | 'onBadLine'>): LineSplitter {
  return new LineSplitter({
    line(line) {
      const parsed = parseConsumed(line);
      if (parsed.ok) options.onMessage(parsed.message);
      else options.onBadLine(parsed.error);
    },
    overlong(bytes) {
      options.onBadLine(`line of ${bytes} bytes is longer than the ${MAX_LINE_BYTES} allowed; ignored`);
    },
  });
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
