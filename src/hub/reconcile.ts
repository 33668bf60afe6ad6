// The shared daemon's one decision, pure: which repositories to start serving and which to stop,
// given the registered set, the ones served now, and the ones set aside (stopped on request,
// failed to start, held by a daemon of their own) until something changes.

export interface Plan {
  /** Registered, not served, not set aside: start serving, in the order registered. */
  start: string[];
  /** Served but no longer registered: stop serving. */
  stop: string[];
}

export function reconcile(wanted: readonly string[], served: Iterable<string>, setAside: ReadonlySet<string> = new Set()): Plan {
  const servedSet = new Set(served);
  const wantedSet = new Set(wanted);
  return {
    start: [...wantedSet].filter((path) => !servedSet.has(path) && !setAside.has(path)),
    stop: [...servedSet].filter((path) => !wantedSet.has(path)),
  };
}

/** Removes the marks that no longer apply (repositories that left the set) and returns them. */
export function pruneSetAside<T>(setAside: Map<string, T>, wanted: readonly string[]): T[] {
  const removed: T[] = [];
  for (const [path, mark] of [...setAside]) {
    if (wanted.includes(path)) continue;
    setAside.delete(path);
    removed.push(mark);
  }
  return removed;
}

/** Whether two reads of the registered set differ (order aside). */
export function setChanged(before: readonly string[], after: readonly string[]): boolean {
  return before.length !== after.length || before.some((path) => !after.includes(path));
}
