// A free TCP port on 127.0.0.1 right now, for the test servers (sshd, git daemon, Prosody, a
// webhook receiver...). Another process may still take it before the server binds: servers that
// can lose that race retry.
import { createServer, type AddressInfo } from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
