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

/** `median ms (min, max)`: a figure with its run-to-run spread. */
export function spread(samples: number[]): string {
  return `${median(samples).toFixed(1)} ms (min ${Math.min(...samples).toFixed(1)}, max ${Math.max(...samples).toFixed(1)})`;
}

/**
 * Each sample against the floor measured right after it (a load that comes and goes on a shared
 * machine moves both alike): the median of those ratios with its quartiles and the ratio of the
 * medians beside it, and whether it meets `target` (at most).
 */
export function pairedRatio(ours: number[], floor: number[], target: number): string {
  const ratios = ours.map((x, i) => x / floor[i]!);
  const ratio = median(ratios);
  return `${ratio.toFixed(2)} (quartiles ${quantile(ratios, 0.25).toFixed(2)}-${quantile(ratios, 0.75).toFixed(2)}; ratio of medians ${(median(ours) / median(floor)).toFixed(2)}) ${ratio <= target ? 'met' : 'NOT MET'}`;
}
