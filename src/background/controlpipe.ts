// A repository's control pipe as its host reads it. Listening starts at once, so a `send` during
// start-up is not refused; what arrives before the daemon is up waits for it. When someone deleted
// or replaced the FIFO, it can be made again under its name (see repair.ts).

import { lstatSync } from 'node:fs';
import type { Consumed } from '../protocol.js';
import type { Daemon } from '../daemon.js';
import { FifoReader, makeFifo } from './fifo.js';

export interface ControlPipeEvents {
  /** Every message read, first (the host logs it, and notes a STOP). */
  received(message: Consumed): void;
  /** RELOAD goes to the host, which also re-reads which files to watch, not to the daemon. */
  reload(): void;
}

export class ControlPipe {
  private reader: FifoReader;
  /** What arrived before the daemon was up; undefined once it is. */
  private waiting: ((running: Daemon) => void)[] | undefined = [];
  private running: Daemon | undefined;

  /** Makes the FIFO and opens it; throws saying which of the two failed. */
  constructor(private readonly path: string, private readonly events: ControlPipeEvents) {
    try {
      makeFifo(path);
    } catch (err) {
      throw new Error(`cannot create the control pipe ${path}: ${(err as Error).message}`);
    }
    try {
      this.reader = this.open();
    } catch (err) {
      throw new Error(`cannot open the control pipe ${path}: ${(err as Error).message}`);
    }
  }

  /** The daemon is up: what waited is handed to it in order, what comes later goes straight to it. */
  deliverTo(running: Daemon): void {
    const waiting = this.waiting ?? [];
    this.running = running;
    for (const act of waiting) act(running);
    this.waiting = undefined;
  }

  /** Whether the name still leads to the FIFO read here (not deleted, not replaced). */
  inPlace(): boolean {
    return sameFifo(this.path, this.reader.ino);
  }

  /** Makes the FIFO again under its name and reads from the new one. */
  remake(): void {
    makeFifo(this.path);
    this.reader.close();
    this.reader = this.open();
  }

  close(): void {
    this.reader.close();
  }

  private open(): FifoReader {
    return new FifoReader(this.path, {
      message: (message) => {
        this.events.received(message);
        this.dispatch((running) => (message.type === 'RELOAD' ? this.events.reload() : running.control.onMessage(message)));
      },
      badLine: (problem) => this.dispatch((running) => running.control.onBadLine(problem)),
    });
  }

  private dispatch(act: (running: Daemon) => void): void {
    if (this.waiting) this.waiting.push(act);
    else act(this.running!);
  }
}

function sameFifo(path: string, ino: number): boolean {
  try {
    const stat = lstatSync(path);
    return stat.isFIFO() && stat.ino === ino;
  } catch {
    return false;
  }
}
