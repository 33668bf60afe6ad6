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

  /**
   * To a stream (stdout), or to a function that gets each message and its line (the log, metrics).
   * With `strays`, the stream is kept for protocol lines alone: any other write to it from this
   * process goes to `strays` instead, so the controller never reads a line that is not a message.
   */
  constructor(output: Writable | EmittedTo, private readonly onClosed: () => void = () => {}, strays?: Writable) {
    if (typeof output === 'function') {
      this.deliver = output;
      return;
    }
    output.on('error', () => this.close());
    const write = output.write.bind(output) as (line: string) => boolean;
    if (strays) divert(output, strays);
    this.deliver = (_message, line) => {
      if (!this.closed) write(`${line}\n`);
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

/**
 * Sends every later write to `stream` to `strays`. A dependency's stray console.log, or a worker
 * thread's stdout (which Node forwards through the parent's process.stdout.write), would otherwise
 * land between protocol lines, where a controller takes it for a message or a garbled one.
 */
function divert(stream: Writable, strays: Writable): void {
  stream.write = ((chunk: unknown, ...rest: unknown[]) =>
    (strays.write as (...args: unknown[]) => boolean)(chunk, ...rest)) as Writable['write'];
}
