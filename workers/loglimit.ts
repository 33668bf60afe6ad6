// What a remote can make the daemon write, bounded. Every detail line a worker sends goes to the
// coordinator, which writes it to the log (synchronously) or the journal: a remote that makes its
// worker say something per byte it sends would fill the disk, rotate the lines about healthy
// remotes out of the log and keep the coordinator's queue growing. So each worker passes its log
// lines through this: in any minute, a few lines of each sort and some lines in all go through;
// the rest are counted, and one summary per sort says how many were left out and what they were.

export interface LogLimits {
  /** Lines of one sort (same text once digits and ids are blanked) per window. */
  perSort: number;
  /** Lines in all per window. */
  total: number;
  windowMs: number;
  /** A longer line is cut: one line must not be a megabyte of someone else's garbage. */
  maxLineChars: number;
}

export const DEFAULT_LOG_LIMITS: LogLimits = { perSort: 5, total: 40, windowMs: 60_000, maxLineChars: 2000 };

interface Held {
  count: number;
  example: string;
}

export class LogLimiter {
  private windowStart = 0;
  private total = 0;
  private readonly sorts = new Map<string, number>();
  private readonly held = new Map<string, Held>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly write: (text: string) => void,
    private readonly limits: LogLimits = DEFAULT_LOG_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  log(text: string): void {
    const line = text.length > this.limits.maxLineChars ? `${text.slice(0, this.limits.maxLineChars)}... (${text.length} chars)` : text;
    const now = this.now();
    if (now - this.windowStart >= this.limits.windowMs) this.newWindow(now);
    const sort = sortOf(line);
    const seen = this.sorts.get(sort) ?? 0;
    if (seen < this.limits.perSort && this.total < this.limits.total) {
      this.sorts.set(sort, seen + 1);
      this.total++;
      return this.write(line);
    }
    // The map of held sorts is itself bounded: past the total, every new sort counts as one.
    const key = this.held.has(sort) || this.held.size < this.limits.total ? sort : '';
    const held = this.held.get(key);
    if (held) held.count++;
    else this.held.set(key, { count: 1, example: key ? line : `(various) ${line}` });
    // Only a window that held something back needs its end marked: a quiet remote arms no timer.
    this.timer ??= setTimeout(() => this.flush(), this.windowStart + this.limits.windowMs - now);
    this.timer.unref?.();
  }

  /** Says what was held back (at the end of each window, and when the worker stops). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const minutes = this.limits.windowMs === 60_000 ? 'minute' : `${Math.round(this.limits.windowMs / 1000)} s`;
    for (const { count, example } of this.held.values()) this.write(`${count} more like this in the last ${minutes}: ${example}`);
    this.held.clear();
    this.newWindow(this.now());
  }

  private newWindow(now: number): void {
    this.windowStart = now;
    this.total = 0;
    this.sorts.clear();
  }
}

/** Lines that differ only in numbers, object ids or quoted text are of one sort. */
function sortOf(line: string): string {
  return line
    .replace(/"(?:[^"\\]|\\.)*"/g, '"…"')
    .replace(/[0-9a-f]{7,}/gi, '#')
    .replace(/\d+/g, '#')
    .slice(0, 80);
}
