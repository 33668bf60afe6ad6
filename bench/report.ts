// Shared by the benchmark sections: medians and one aligned line per figure.

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function report(what: string, value: string): void {
  console.log(`${what.padEnd(64)} ${value}`);
}
