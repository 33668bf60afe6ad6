// A TCP proxy on loopback that counts what reaches it: the connections accepted, and how many are
// open now. Put in front of a real server (Prosody, sshd, an http server) it tells a test whether
// the daemon connected at all, without trusting anything the daemon says about itself.
//
//   const proxy = await countingProxy(prosody.port);
//   t.after(() => proxy.close());
//   ... proxy.accepted, proxy.open, await proxy.until('a login', () => proxy.accepted > 0)

import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

export interface CountingProxy {
  port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Connections open now. */
  readonly open: number;
  /** Resolves once `condition` holds, checked on every accept and close; rejects after `timeoutMs`. */
  until(what: string, condition: () => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function countingProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<CountingProxy> {
  let accepted = 0;
  const sockets = new Set<Socket>();
  const clients = new Set<Socket>();
  const waiters = new Set<() => void>();
  const changed = () => {
    for (const w of waiters) w();
  };
  const server = createServer((client) => {
    accepted++;
    sockets.add(client);
    clients.add(client);
    const upstream = connect(targetPort, targetHost);
    sockets.add(upstream);
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', () => {
      end();
      sockets.delete(client);
      clients.delete(client);
      changed();
    });
    upstream.on('error', end).on('close', () => {
      end();
      sockets.delete(upstream);
    });
    changed();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    get accepted() {
      return accepted;
    },
    get open() {
      return clients.size;
    },
    until(what, condition, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!condition()) return;
          done();
          resolve();
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out waiting for ${what} (accepted ${accepted})`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
