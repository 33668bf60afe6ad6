// The HTTP side of the webhook receiver, facing anyone who can reach its port: POSTs only, at most
// MAX_CONNECTIONS connections at once (more are closed as they arrive), headers within
// HEADERS_TIMEOUT_MS and the whole request within REQUEST_TIMEOUT_MS of its start (answered 408
// and closed), and a body handed to an intake piece by piece as it streams: the receiver itself
// keeps none of it. Past MAX_BODY_BYTES the answer is 413. Nothing
// but a short status text in any answer.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KEPT_BODY_BYTES } from './body.js';

export const MAX_CONNECTIONS = 16;
export const HEADERS_TIMEOUT_MS = 5_000;
export const REQUEST_TIMEOUT_MS = 10_000;
/**
 * How often Node looks for requests past those deadlines. Its default, 30 s, let a stalled request
 * with a 10 s deadline live 30-40 s; checking four times a second holds a deadline within 250 ms.
 */
const DEADLINE_CHECK_MS = 250;
/**
 * A body larger than this is refused (413), from its declared length before any of it is read.
 * Every byte read costs an allocation until the garbage collector runs, so what anyone can make us
 * read per connection stays small: the same 1 MiB a kept payload may take (see body.ts).
 */
export const MAX_BODY_BYTES = KEPT_BODY_BYTES;

export interface Receiver {
  readonly port: number;
  close(): Promise<void>;
}

export interface Reply {
  status: number;
  text: string;
}

/** Where one request's body goes while it streams. */
export interface Intake {
  write(chunk: Buffer): void;
  /** The whole body has arrived: the answer. */
  end(): Reply;
  /** The request ended without its whole body (hang-up, deadline, over the bound). */
  abort(): void;
}

/** From the headers alone: an answer at once (the body is never read), or where the body goes. */
export type Admit = (headers: http.IncomingHttpHeaders) => Reply | Intake;

export interface ReceiverOptions {
  host: string;
  port: number;
  admit: Admit;
  /** A connection over MAX_CONNECTIONS was closed unanswered. */
  dropped?: () => void;
}

export function startReceiver(options: ReceiverOptions): Promise<Receiver> {
  const server = http.createServer(
    {
      headersTimeout: HEADERS_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      connectionsCheckingInterval: DEADLINE_CHECK_MS,
      keepAliveTimeout: HEADERS_TIMEOUT_MS,
    },
    (request, response) => {
      const reply = ({ status, text }: Reply) => {
        if (response.headersSent) return;
        response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
        response.end(text);
      };
      // Answered without reading the body: say so, then close rather than drain what may be
      // megabytes the sender has no right to make us read.
      const refuse = (answer: Reply) => {
        response.setHeader('Connection', 'close');
        reply(answer);
        response.once('finish', () => request.destroy());
      };
      const tooLarge = { status: 413, text: `the body is over ${MAX_BODY_BYTES} bytes\n` };
      if (request.method !== 'POST') {
        response.setHeader('Allow', 'POST');
        return refuse({ status: 405, text: 'POST only\n' });
      }
      const declared = Number(request.headers['content-length']);
      if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) return refuse(tooLarge);
      const admitted = options.admit(request.headers);
      if (!('write' in admitted)) return refuse(admitted);
      const intake = admitted;
      let size = 0;
      let settled = false;
      request.on('data', (chunk: Buffer) => {
        if (settled) return;
        size += chunk.length;
        if (size > MAX_BODY_BYTES) {
          settled = true;
          intake.abort();
          refuse(tooLarge);
        } else intake.write(chunk);
      });
      request.once('end', () => {
        if (settled) return;
        settled = true;
        reply(intake.end());
      });
      // A deadline, a hang-up or an error: whatever the intake kept goes back at once.
      request.once('close', () => {
        if (settled) return;
        settled = true;
        intake.abort();
      });
      request.once('error', () => request.destroy());
    },
  );
  server.maxConnections = MAX_CONNECTIONS;
  server.on('drop', () => options.dropped?.());
  // A connection that goes quiet between requests, or mid-answer, is not kept either.
  server.setTimeout(REQUEST_TIMEOUT_MS);
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
