// A DHT bootstrap node bound to exactly one IPv4 address, for a DHT of your own (offline, a LAN,
// tests): `git remote-daemon p2p bootstrap --host 127.0.0.1 --port 49737`. hyperdht's own CLI
// (`hyperdht --bootstrap --host <ip>`) announces that address but binds 0.0.0.0, so a bootstrap
// meant for loopback answers on every interface; this one binds the address it announces.

// hyperdht (native addons) is loaded only when a node starts: the CLI imports this module to
// define the command.

/** hyperdht's default bootstrap port. */
export const DEFAULT_BOOTSTRAP_PORT = 49737;

export interface BootstrapNode {
  host: string;
  port: number;
  close(): Promise<void>;
}

/** Why `host` cannot be a bootstrap node's address, or undefined when it can. */
export function badBootstrapHost(host: string): string | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (!m || m.slice(1).some((part) => Number(part) > 255 || (part.length > 1 && part.startsWith('0')))) {
    return `--host must be an IPv4 address (hyperdht's DHT is IPv4 only), got ${JSON.stringify(host)}`;
  }
  if (host === '0.0.0.0') return '--host must be the one address peers reach it at, not 0.0.0.0 (every interface)';
  return undefined;
}

/** Starts a bootstrap node on host:port (UDP), bound to that address only. */
export async function startBootstrapNode(host: string, port: number): Promise<BootstrapNode> {
  const problem = badBootstrapHost(host);
  if (problem) throw new Error(problem);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`--port must be a port number (1-65535), got ${port}`);
  // `host` in the options is what the sockets bind; the first argument is what the node announces.
  const { default: DHT } = await import('hyperdht');
  const node = DHT.bootstrapper(port, host, { host });
  try {
    await node.ready();
  } catch (err) {
    await node.destroy().catch(() => {});
    throw new Error(`cannot bind ${host}:${port}/udp: ${(err as Error).message}`);
  }
  const bound = node.address();
  return { host: bound.host, port: bound.port, close: () => node.destroy() };
}
