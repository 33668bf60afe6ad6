// The end of a stream of text, at most `maxChars` of it: what a command said last (git's ref
// report, its error) without holding whatever a server made it print before.

/** Of git's stderr, the last this many characters are kept: its ref report and errors come last. */
export const STDERR_TAIL_CHARS = 64 * 1024;

export class TailBuffer {
  private parts: string[] = [];
  private size = 0;

  constructor(private readonly maxChars: number) {}

  push(chunk: string): void {
    this.parts.push(chunk);
    this.size += chunk.length;
    // Drop whole chunks from the front while the rest still fills the tail, then trim the first.
    while (this.parts.length > 1 && this.size - this.parts[0]!.length >= this.maxChars) this.size -= this.parts.shift()!.length;
    if (this.size > 2 * this.maxChars) this.compact();
  }

  text(): string {
    this.compact();
    return this.parts[0] ?? '';
  }

  private compact(): void {
    const joined = this.parts.join('').slice(-this.maxChars);
    this.parts = joined === '' ? [] : [joined];
    this.size = joined.length;
  }
}
