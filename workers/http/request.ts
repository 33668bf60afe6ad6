// One ls-refs POST over smart HTTP, bounded in time and size. The answer is fed to the parser as it
// arrives, so garbage is refused at its first bytes and an endless body is cut at `maxBytes`; an
// error answer is read for at most a few KiB of explanation.

import http from 'node:http';
import https from 'node:https';
import { withDeadline } from '../../shared/kit/deadline.js';

export interface PostOptions {
  url: string;
  body: Buffer;
  headers: Record<string, string>;
  agent: http.Agent;
  signal: AbortSignal;
  timeoutMs: number;
  maxBytes: number;
  /** Called with each piece of a 200 answer with the git content type; throws to abandon it. */
  consume(chunk: Buffer): void;
}

export type PostResult =
  /** A 200 with application/x-git-upload-pack-result: the body went through `consume`. */
  | { kind: 'ok' }
  /** Anything else: the status, its headers and the start of its body. */
  | { kind: 'status'; status: number; headers: http.IncomingHttpHeaders; text: string };

const ERROR_TEXT_BYTES = 4096;

/** TLS failures Node has and git might not (git may trust the system store, Node its own bundle). */
export const TLS_TRUST_ERRORS = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
]);

export class AnswerTooLarge extends Error {
  override name = 'AnswerTooLarge';
}

/** Posts once; retries once on a fresh socket when a kept-alive one turns out to be closed. */
export async function post(options: PostOptions): Promise<PostResult> {
  try {
    return await postOnce(options);
  } catch (err) {
    // The server may close an idle kept-alive socket just as we reuse it (its keep-alive timeout is
    // usually shorter than a poll interval): nothing was processed, so asking again is safe.
    if ((err as { reusedSocket?: boolean }).reusedSocket && (err as NodeJS.ErrnoException).code === 'ECONNRESET') {
      return postOnce(options);
    }
    throw err;
  }
}

function postOnce(options: PostOptions): Promise<PostResult> {
  return new Promise<PostResult>((resolve, reject) => {
    const url = new URL(options.url);
    const deadline = withDeadline(options.signal, options.timeoutMs);
    const signal = deadline.signal;
    const request = (url.protocol === 'https:' ? https : http).request(url, {
      method: 'POST',
      agent: options.agent,
      headers: { ...options.headers, 'Content-Length': String(options.body.length) },
      signal,
    });
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      deadline.clear();
      if (deadline.timedOut && !options.signal.aborted) err = new Error(`no answer from ${displayOf(url)} within ${options.timeoutMs / 1000} s`);
      Object.assign(err, { reusedSocket: request.reusedSocket });
      request.destroy();
      reject(err);
    };
    request.once('error', fail);
    request.once('response', (response) => {
      response.once('error', fail);
      const type = String(response.headers['content-type'] ?? '').split(';')[0].trim();
      const git = response.statusCode === 200 && type === 'application/x-git-upload-pack-result';
      let received = 0;
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => {
        if (settled) return;
        received += chunk.length;
        if (git) {
          if (received > options.maxBytes) return fail(new AnswerTooLarge(`the answer from ${displayOf(url)} is over ${options.maxBytes} bytes`));
          try {
            options.consume(chunk);
          } catch (err) {
            fail(err as Error);
          }
        } else if (received <= ERROR_TEXT_BYTES) chunks.push(chunk);
        else finish(); // enough to explain the status: the rest is not worth reading
      });
      const finish = () => {
        if (settled) return;
        if (git && !response.complete) return fail(new Error(`the answer from ${displayOf(url)} was cut short`));
        settled = true;
        deadline.clear();
        if (git) resolve({ kind: 'ok' });
        else {
          const text = Buffer.concat(chunks).subarray(0, ERROR_TEXT_BYTES).toString('utf8');
          resolve({ kind: 'status', status: response.statusCode ?? 0, headers: response.headers, text });
          if (!response.complete) request.destroy(); // do not keep reading, nor reuse a half-read socket
        }
      };
      response.once('end', finish);
      response.once('aborted', () => fail(new Error(`the answer from ${displayOf(url)} was cut short`)));
    });
    request.end(options.body);
  });
}

function displayOf(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}
