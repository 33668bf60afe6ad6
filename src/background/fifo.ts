// The control FIFO, `.git/remote-daemon/control`: takes the same consumed messages as stdin in the
// foreground, from any number of writers.
//
// The daemon opens it read-write and non-blocking. Holding a write end itself means the FIFO always
// has a writer, so the daemon never sees end-of-file when a writer goes away and a writer's open()
// never blocks while the daemon runs; non-blocking means a read never stalls the event loop.
//
// All writers share one byte stream. A message written with one write() of at most PIPE_BUF (4096)
// bytes arrives whole, never interleaved with another writer's bytes; `send` does exactly that.
// A writer that dies half-way through a line leaves bytes without a newline, which would glue onto
// the next writer's line: so a partial line that sits unfinished for PARTIAL_LINE_MS is dropped
// with a WARNING. (A line glued before then is most likely not a valid message and is refused;
// nothing a writer does can block or stop the daemon.)

import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, constants, fstatSync, lstatSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { controlLineSplitter } from '../control.js';
import type { BoundedLines } from '../../shared/kit/lines.js';
import type { Consumed } from '../protocol.js';

/** Writes up to this size are atomic on a pipe (POSIX PIPE_BUF; Linux: 4096). */
export const PIPE_BUF = 4096;

/** How long a line may stay unfinished before it is treated as a dead writer's leftover. */
export const PARTIAL_LINE_MS = 1000;

/** Creates the FIFO (mode 0600), reusing one a killed daemon left and replacing anything else. */
export function makeFifo(path: string): void {
  try {
    const stat = lstatSync(path);
    if (stat.isFIFO()) {
      chmodSync(path, 0o600);
      return;
    }
    // A stray `echo RELOAD > control` while no daemon ran made a regular file: replace it.
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  // Node has no mkfifo(2); coreutils' mkfifo takes the path as one argument, no shell involved.
  execFileSync('mkfifo', ['-m', '0600', '--', path], { stdio: ['ignore', 'ignore', 'pipe'] });
}

export function removeFifo(path: string): void {
  try {
    if (lstatSync(path).isFIFO()) unlinkSync(path);
  } catch {
    // already gone
  }
}

export interface FifoEvents {
  message(message: Consumed): void;
  badLine(problem: string): void;
}

/** Reads consumed messages from the FIFO until closed. */
export class FifoReader {
  private readonly socket: Socket;
  private splitter: BoundedLines;
  /** Bytes of the current unfinished line (0 right after a newline). */
  private pending = 0;
  private partialTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** The inode read from: when the name leads elsewhere, writers no longer reach this reader. */
  readonly ino: number;

  constructor(path: string, private readonly events: FifoEvents, private readonly partialLineMs = PARTIAL_LINE_MS) {
    const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
    this.ino = fstatSync(fd).ino;
    // libuv treats a FIFO fd as a pipe handle and polls it: reads never block the event loop.
    this.socket = new Socket({ fd, readable: true, writable: false });
    this.splitter = this.newSplitter();
    this.socket.on('data', (chunk: Buffer) => this.data(chunk));
    this.socket.on('error', (err) => this.events.badLine(`control pipe read failed: ${err.message}`));
  }

  private newSplitter(): BoundedLines {
    return controlLineSplitter({ onMessage: (m) => this.events.message(m), onBadLine: (p) => this.events.badLine(p) });
  }

  private data(chunk: Buffer): void {
    if (this.closed) return;
    this.splitter.push(chunk);
    const lastNewline = chunk.lastIndexOf(0x0a);
    this.pending = lastNewline < 0 ? this.pending + chunk.length : chunk.length - lastNewline - 1;
    clearTimeout(this.partialTimer);
    this.partialTimer = undefined;
    if (this.pending > 0) this.partialTimer = setTimeout(() => this.dropPartial(), this.partialLineMs);
  }

  private dropPartial(): void {
    const bytes = this.pending;
    this.pending = 0;
    this.splitter = this.newSplitter(); // forgets the unfinished bytes
    this.events.badLine(`unfinished line of ${bytes} bytes dropped: its writer stopped before the newline`);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.partialTimer);
    this.socket.destroy();
  }
}

/**
 * Writes one message line to a daemon's FIFO in a single non-blocking write, so it arrives whole.
 * Throws a clear error when no daemon is reading or the line is too long to be atomic.
 */
export async function writeControlLine(path: string, line: string, timeoutMs = 5000): Promise<void> {
  const bytes = Buffer.from(`${line}\n`, 'utf8');
  if (bytes.length > PIPE_BUF) throw new Error(`message is ${bytes.length} bytes; at most ${PIPE_BUF} (with its newline) arrive whole through the pipe`);
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    throw new Error(`no control pipe at ${path}: is the daemon running?`);
  }
  if (!stat.isFIFO()) throw new Error(`${path} is not a named pipe`);
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENXIO') throw new Error('no daemon is reading the control pipe');
    throw err;
  }
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      try {
        // At most PIPE_BUF bytes on a non-blocking pipe: all of it is written, or none (EAGAIN).
        writeSync(fd, bytes);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 10)); // the pipe is full: the daemon is busy reading
      }
    }
  } finally {
    closeSync(fd);
  }
}
