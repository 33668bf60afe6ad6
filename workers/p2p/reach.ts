// Whether the DHT answers at all. A node whose routing table is empty (no bootstrap node answered:
// no network yet, a firewall, a bootstrap that is down) finds no peer, and hyperdht itself asks its
// bootstrap nodes again only every ~40 s. While the table is empty this asks them again, from
// FIRST_PROBE_MS doubling to MAX_PROBE_MS (at once after a network change); the first node that
// answers ends it, and `reachable` lets the remotes that back off because of it retry now.
//
// What it costs while isolated (offline, say): one small query to the bootstrap nodes per probe,
// one every MAX_PROBE_MS after the first few seconds; nothing at all while the DHT answers.

export const FIRST_PROBE_MS = 1000;
export const MAX_PROBE_MS = 5000;

/** The parts of a hyperdht (dht-rpc) node this uses. */
export interface ReachableDht {
  readonly nodes: { readonly length: number };
  refresh(): void;
  on(event: 'add-node' | 'remove-node' | 'network-change', fn: () => void): unknown;
  off(event: 'add-node' | 'remove-node' | 'network-change', fn: () => void): unknown;
}

export interface ReachWatch {
  /** Looks whether the DHT is isolated now (after a dial failed, say) and starts probing if so. */
  check(): void;
  readonly isolated: boolean;
  stop(): void;
}

export function watchReachability(
  dht: ReachableDht,
  reachable: () => void,
  timing: { firstMs: number; maxMs: number } = { firstMs: FIRST_PROBE_MS, maxMs: MAX_PROBE_MS },
  /** No node answers any more (or from the start): said once per isolation, for status. */
  isolatedNow: () => void = () => {},
): ReachWatch {
  let isolated = false;
  let stopped = false;
  let wait = timing.firstMs;
  let timer: NodeJS.Timeout | undefined;

  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(probe, wait);
    wait = Math.min(timing.maxMs, wait * 2);
  };
  const probe = () => {
    if (!isolated || stopped) return;
    dht.refresh(); // a query through the bootstrap nodes: any answer adds a node ('add-node')
    schedule();
  };
  const check = () => {
    if (stopped || isolated || dht.nodes.length > 0) return;
    isolated = true;
    wait = timing.firstMs;
    schedule();
    isolatedNow();
  };
  const added = () => {
    if (!isolated || stopped) return;
    isolated = false;
    clearTimeout(timer);
    reachable();
  };
  const networkChanged = () => {
    if (!isolated || stopped) return;
    wait = timing.firstMs;
    probe();
  };
  dht.on('add-node', added);
  dht.on('remove-node', check);
  dht.on('network-change', networkChanged);
  check();
  return {
    check,
    get isolated() {
      return isolated;
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
      dht.off('add-node', added);
      dht.off('remove-node', check);
      dht.off('network-change', networkChanged);
    },
  };
}
