// One way to split a byte stream into lines without trusting the other end: the control channel
// (stdin, the named pipe), the notifier's output read by the ssh transport, and the notifier's own
// stdin all come from processes that may be broken or hostile. Whatever they send, this holds at
// most `maxBytes` of one unfinished line; a longer line is dropped (and reported) rather than grown.

import { StringDecoder } from 'node:string_decoder';

export interface BoundedLineEvents {
  line(line: string): void;
  /** A line longer than `maxBytes` ended (or the input did): its `bytes` were dropped. */
  overlong(bytes: number): void;
  /**
   * The current line just passed `maxBytes`. A reader that treats that as a protocol error says
   * so here, at once, instead of after reading an endless line to its end.
   */
  exceeded?(): void;
}

/**
 * Each line is decoded as UTF-8 on its own, so a multibyte character split across chunks is fine
 * and invalid bytes become U+FFFD (which every parser here refuses). A trailing "\r" is kept: what
 * a line means is the parser's business.
 */
export class BoundedLines {
  private parts: Buffer[] = [];
  private size = 0;
  private dropping = 0;
  private stopped = false;

  constructor(
    private readonly events: BoundedLineEvents,
    readonly maxBytes: number,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    while (start < chunk.length && !this.stopped) {
      const newline = chunk.indexOf(0x0a, start);
      const end = newline < 0 ? chunk.length : newline;
      this.take(chunk.subarray(start, end));
      if (newline < 0 || this.stopped) return;
      this.finishLine();
      start = newline + 1;
    }
  }

  /** End of input: a last line without a newline still counts. */
  end(): void {
    if (!this.stopped && (this.size > 0 || this.dropping > 0)) this.finishLine();
  }

  /** Nothing more is delivered, not even the rest of a chunk being split (the reader gave up). */
  stop(): void {
    this.stopped = true;
    this.parts = [];
    this.size = 0;
  }

  private take(bytes: Buffer): void {
    if (bytes.length === 0) return;
    if (this.dropping > 0) {
      this.dropping += bytes.length;
      return;
    }
    if (this.size + bytes.length > this.maxBytes) {
      this.dropping = this.size + bytes.length;
      this.parts = [];
      this.size = 0;
      this.events.exceeded?.();
      return;
    }
    this.parts.push(Buffer.from(bytes)); // a copy: a kept slice would pin the whole chunk
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
    const line = decoder.write(this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.size)) + decoder.end();
    this.parts = [];
    this.size = 0;
    this.events.line(line);
  }
}
