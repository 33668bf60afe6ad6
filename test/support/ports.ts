// A free TCP (or UDP) port on 127.0.0.1 right now, for the test servers (sshd, git daemon, Prosody, a
// webhook receiver...). Another process may still take it before the server binds: servers that
// can lose that race retry.
import { createSocket } from 'node:dgram';
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

/**
 * A UDP port held by a socket that reads nothing and answers nothing, for a DHT bootstrap that
 * comes up later: a bootstrap there is silent, as if down. Held, not just found free, because the
 * tests' many DHT nodes bind ephemeral UDP ports too, and one landing on it would answer.
 * `release()` just before the late server binds it.
 */
export async function heldUdpPort(): Promise<{ port: number; release(): Promise<void> }> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  socket.on('message', () => {}); // heard, never answered
  let released: Promise<void> | undefined;
  return { port, release: () => (released ??= new Promise<void>((resolve) => socket.close(resolve))) };
}
