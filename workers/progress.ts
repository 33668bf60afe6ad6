// git's progress output, read while a fetch runs: `--progress` makes git write lines such as
// `Receiving objects:  45% (450/1000), 12.34 MiB | 5.00 MiB/s` separated by carriage returns.
// We keep only the latest state, and drop those lines from what is logged afterwards.

export interface FetchProgress {
  /** What git is doing ("Receiving objects", "Resolving deltas", ...). */
  stage: string;
  percent?: number;
  /** Bytes received so far, as git counts them (only while receiving objects). */
  bytes?: number;
}

const PROGRESS = /^(?:remote: )?([A-Z][A-Za-z ]+):\s+(\d+)%(?: \(\d+\/\d+\))?(?:, ([\d.]+) (bytes|KiB|MiB|GiB))?/;
const UNITS: Record<string, number> = { bytes: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };
/** A partial line longer than this is not progress: drop it rather than let it grow. */
const MAX_PARTIAL = 4096;

/** Feeds stderr chunks; calls `update` with each progress state seen. */
export class ProgressReader {
  private partial = '';
  private bytes: number | undefined;

  constructor(private readonly update: (progress: FetchProgress) => void) {}

  push(chunk: string): void {
    const parts = (this.partial + chunk).split(/[\r\n]/);
    this.partial = parts.pop() ?? '';
    if (this.partial.length > MAX_PARTIAL) this.partial = '';
    for (const line of parts) {
      const m = PROGRESS.exec(line);
      if (!m) continue;
      if (m[3] !== undefined) this.bytes = Math.round(Number(m[3]) * UNITS[m[4]!]!);
      this.update({ stage: m[1]!, percent: Number(m[2]), ...(this.bytes !== undefined && { bytes: this.bytes }) });
    }
  }
}

/** git's stderr without its progress lines: what a person wants in the log (ref updates, errors). */
export function withoutProgress(stderr: string): string {
  return stderr
    .split('\n')
    .map((line) => line.split('\r').at(-1)!)
    .filter((line) => !PROGRESS.test(line) && !/^remote: (Enumerating|Counting|Compressing|Total)\b/.test(line))
    .join('\n')
    .trim();
}
