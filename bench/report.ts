// Shared by the benchmark sections: medians and one aligned line per figure.

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The value below which a fraction `q` of the values lie (nearest rank). */
export function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** `ratio` against `target` (at most), with its verdict: what every target in the bench prints. */
export function verdict(ratio: number, target: number): string {
  return `${ratio.toFixed(2)} ${ratio <= target ? 'met' : 'NOT MET'}`;
}

export function report(what: string, value: string): void {
  console.log(`${what.padEnd(64)} ${value}`);
}
