// ls-refs over git:// (git daemon, port 9418): one TCP connection per listing. We ask for protocol
// v2 in the request's extra parameters; a server that ignores them starts a v0 advertisement, and
// the caller lets `git ls-remote` take over. Every byte read goes through the bounded parsers.

import net from 'node:net';
import { FLUSH, packetText, pktLine, PktReader } from '../wire/pktline.js';
import { LsRefsParser, lsRefsRequest, NotV2Error, ProtocolError } from '../wire/lsrefs.js';
import type { RefMap } from '../../shared/transport.js';
import type { RemoteUrl } from './urls.js';
import { withDeadline } from '../../shared/kit/deadline.js';

export interface GitListOptions {
  url: RemoteUrl;
  prefixes: readonly string[];
  signal: AbortSignal;
  timeoutMs: number;
  maxBytes: number;
}

export function listRefsGit(options: GitListOptions): Promise<RefMap> {
  const { url } = options;
  return new Promise<RefMap>((resolve, reject) => {
    const deadline = withDeadline(options.signal, options.timeoutMs, () => new Error(`no answer from ${url.display} within ${options.timeoutMs / 1000} s`));
    const signal = deadline.signal;
    const socket = net.connect({ host: url.host, port: url.port ?? 9418, noDelay: true });
    let settled = false;
    const done = (err: Error | undefined, refs?: RefMap, destroy = true) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      deadline.clear();
      if (destroy) socket.destroy();
      if (err) reject(err);
      else resolve(refs!);
    };
    const onAbort = () => done(signal.reason as Error); // the caller's reason, or the deadline's
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) return onAbort();

    const hostPort = url.port !== undefined ? `${url.host}:${url.port}` : url.host;
    const path = decodeURIComponent(url.path) || '/';
    socket.write(pktLine(Buffer.from(`git-upload-pack ${path}\0host=${hostPort}\0\0version=2\0`, 'utf8')));

    // First the capability advertisement (`version 2`, capabilities, flush), then our answer.
    const advert = new PktReader();
    let inAdvert = true;
    let first = true;
    let parser: LsRefsParser | undefined;
    let received = 0;
    socket.on('data', (chunk: Buffer) => {
      if (settled) return;
      received += chunk.length;
      if (received > options.maxBytes) return done(new ProtocolError(`the answer from ${url.display} is over ${options.maxBytes} bytes`));
      try {
        if (inAdvert) readAdvert(chunk);
        else parser!.push(chunk);
        if (parser?.complete) {
          const refs = parser.finish();
          socket.end(FLUSH); // no more commands: upload-pack exits
          setTimeout(() => socket.destroy(), 5000).unref(); // and if it does not close its end, we do
          done(undefined, refs, false);
        }
      } catch (err) {
        done(err as Error);
      }
    });
    const readAdvert = (chunk: Buffer) => {
      const packets = advert.push(chunk);
      for (const [i, packet] of packets.entries()) {
        if (first) {
          first = false;
          const text = packet.kind === 'data' ? packetText(packet.payload) : '';
          if (text.startsWith('ERR ')) throw new Error(`${url.display}: the server said: ${text.slice(4, 200)}`);
          if (text !== 'version 2') throw new NotV2Error('the server answered with a protocol v0/v1 advertisement');
        }
        if (packet.kind === 'flush') {
          // The server waits for our command now: anything more from it breaks the protocol.
          if (i < packets.length - 1 || advert.buffered > 0) throw new ProtocolError('the server spoke before being asked');
          inAdvert = false;
          parser = new LsRefsParser();
          socket.write(lsRefsRequest(options.prefixes));
          return;
        }
      }
    };
    socket.once('end', () => {
      if (inAdvert) return done(new Error(`${url.display} closed the connection (is the repository exported?)`));
      try {
        done(undefined, parser!.finish());
      } catch (err) {
        done(err as Error);
      }
    });
    socket.once('error', (err) => done(err));
    socket.once('close', () => done(new Error(`${url.display} closed the connection`)));
  });
}

