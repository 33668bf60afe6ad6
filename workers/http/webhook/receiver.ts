// The HTTP side of the webhook receiver: POSTs only, bodies bounded before they are read whole
// (GitHub caps payloads at 25 MB, but a push payload is a few KiB to a few hundred; past
// MAX_BODY_BYTES we answer 413 and the safety-net poll still finds the push), a timeout for slow
// senders, and nothing but a short status text in any answer.

import http from 'node:http';
import type { AddressInfo } from 'node:net';

export const MAX_BODY_BYTES = 5 * 1024 * 1024;
const BODY_TIMEOUT_MS = 10_000;

export interface Receiver {
  readonly port: number;
  close(): Promise<void>;
}

export type Answer = (headers: http.IncomingHttpHeaders, body: Buffer) => { status: number; text: string };

export interface ReceiverOptions {
  host: string;
  port: number;
  maxBodyBytes?: number;
  answer: Answer;
}

export function startReceiver(options: ReceiverOptions): Promise<Receiver> {
  const maxBodyBytes = options.maxBodyBytes ?? MAX_BODY_BYTES;
  const server = http.createServer({ requestTimeout: BODY_TIMEOUT_MS, headersTimeout: BODY_TIMEOUT_MS }, (request, response) => {
    const reply = (status: number, text: string) => {
      if (response.headersSent) return;
      response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
      response.end(text);
    };
    if (request.method !== 'POST') {
      response.setHeader('Allow', 'POST');
      return reply(405, 'POST only\n');
    }
    const tooLarge = () => {
      // Say so, then close rather than drain what may be gigabytes.
      response.setHeader('Connection', 'close');
      reply(413, `the body is over ${maxBodyBytes} bytes\n`);
      response.once('finish', () => request.destroy());
    };
    const declared = Number(request.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBodyBytes) return tooLarge();
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      if (size > maxBodyBytes) return;
      size += chunk.length;
      if (size > maxBodyBytes) {
        chunks.length = 0;
        tooLarge();
      } else chunks.push(chunk);
    });
    request.once('end', () => {
      if (size > maxBodyBytes) return;
      const { status, text } = options.answer(request.headers, Buffer.concat(chunks));
      reply(status, text);
    });
    request.once('error', () => request.destroy());
  });
  return new Promise<Receiver>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
