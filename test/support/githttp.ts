// A real smart-HTTP git server for tests: node:http in front of `git http-backend` (CGI), with the
// misbehaviours a transport must survive switchable at run time: basic auth, 429 + Retry-After,
// a v0-only server, garbage and endless answers, going down and coming back on the same port.

import { execFileSync, spawn } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import { readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { refuseInUnitRun } from './unitrun.js';

/** One pkt-line: four hex digits of length, then the payload. */
function pkt(payload: string | Buffer): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  return Buffer.concat([Buffer.from((data.length + 4).toString(16).padStart(4, '0')), data]);
}

export type Mode =
  | { kind: 'normal' }
  /** 429 (or 503) with this Retry-After value. */
  | { kind: 'throttle'; status?: 429 | 503; retryAfter: string }
  /** Drops the Git-Protocol header: http-backend then speaks v0. */
  | { kind: 'v0' }
  /** `bytes` of random data with git's content type. */
  | { kind: 'garbage'; bytes: number }
  /** A chunked body of well-formed ref lines that never ends (until the client hangs up). */
  | { kind: 'endless' }
  /** A 302 to the same URL elsewhere. */
  | { kind: 'redirect'; location: string }
  /**
   * Listings are answered; a fetch gets a v2 packfile section of sideband progress only: `packets`
   * packets of ~64 KiB of progress each ending in a carriage return (endless: Infinity), then the
   * connection ends.
   */
  | { kind: 'fetch-progress'; packets: number }
  /** Listings are answered; a fetch gets nothing at all, and the connection stays open. */
  | { kind: 'fetch-stall' };

export interface GitHttpOptions {
  /** GIT_PROJECT_ROOT: repositories are served under it. */
  root: string;
  /** HTTPS with a CA made for this server (see `caFile`). */
  tls?: { dir: string };
  auth?: { user: string; password: string };
}

export interface GitHttpServer {
  /** `http(s)://127.0.0.1:PORT` */
  readonly base: string;
  readonly port: number;
  /** The CA that signed the server's certificate (TLS only). */
  readonly caFile: string | undefined;
  mode: Mode;
  auth: { user: string; password: string } | undefined;
  /** Every request, in order: method, path, and whether it carried the right credentials. */
  readonly requests: { method: string; path: string; authorized: boolean; at: number; protocol?: string }[];
  /** Answers (garbage, endless) the client hung up on while the server was still sending. */
  hangups: number;
  /** Bytes the garbage and endless modes wrote before the client hung up. */
  sent: number;
  /** Fetch commands the fetch-progress and fetch-stall modes answered (badly). */
  fetches: number;
  /** Resolves once `requests` holds at least `count` entries; rejects after `timeoutMs`. */
  untilRequests(count: number, timeoutMs?: number): Promise<void>;
  /** Resolves once `condition` holds, checked after each request and hang-up. */
  until(what: string, condition: () => boolean, timeoutMs?: number): Promise<void>;
  /** Stops listening and drops every connection (the server "goes down"). */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
}

export async function startGitHttp(options: GitHttpOptions): Promise<GitHttpServer> {
  refuseInUnitRun('startGitHttp');
  let caFile: string | undefined;
  let tlsOptions: { key: Buffer; cert: Buffer } | undefined;
  if (options.tls) {
    const made = makeCertificates(options.tls.dir);
    caFile = made.caFile;
    tlsOptions = { key: readFileSync(made.keyFile), cert: readFileSync(made.certFile) };
  }
  const waiters = new Set<() => boolean>();
  const wake = () => {
    for (const check of [...waiters]) if (check()) waiters.delete(check);
  };
  const state: GitHttpServer = {
    base: '',
    port: 0,
    caFile,
    mode: { kind: 'normal' },
    auth: options.auth,
    requests: [],
    hangups: 0,
    sent: 0,
    fetches: 0,
    untilRequests: (count, timeoutMs) => state.until(`${count} requests`, () => state.requests.length >= count, timeoutMs),
    until: (what, condition, timeoutMs = 15_000) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!condition()) return false;
          clearTimeout(timer);
          resolve();
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${what} (saw ${state.requests.length} requests, ${state.hangups} hang-ups)`));
        }, timeoutMs);
        if (!check()) waiters.add(check);
      }),
    stop: async () => {},
    start: async () => {},
  };

  const handler = (request: http.IncomingMessage, response: http.ServerResponse) => {
    const url = new URL(request.url ?? '/', 'http://x');
    const authorized = checkAuth(request, state.auth);
    const protocol = header(request, 'git-protocol');
    state.requests.push({ method: request.method ?? '', path: url.pathname, authorized, at: Date.now(), ...(protocol !== undefined && { protocol }) });
    wake();
    if (state.auth && !authorized) {
      request.resume();
      response.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"', 'Content-Type': 'text/plain' });
      return response.end('authentication required\n');
    }
    const mode = state.mode;
    switch (mode.kind) {
      case 'throttle':
        request.resume();
        response.writeHead(mode.status ?? 429, { 'Retry-After': mode.retryAfter, 'Content-Type': 'text/plain' });
        return response.end('slow down\n');
      case 'redirect':
        request.resume();
        response.writeHead(302, { Location: mode.location });
        return response.end();
      case 'garbage': {
        request.resume();
        response.writeHead(200, { 'Content-Type': 'application/x-git-upload-pack-result', 'Content-Length': mode.bytes });
        const chunk = Buffer.alloc(64 * 1024, 'z');
        let left = mode.bytes;
        const pump = () => {
          while (left > 0 && !response.destroyed) {
            const piece = chunk.subarray(0, Math.min(left, chunk.length));
            left -= piece.length;
            state.sent += piece.length;
            if (!response.write(piece)) return void response.once('drain', pump);
          }
          if (!response.destroyed) response.end();
        };
        response.once('close', () => {
          if (left > 0) state.hangups++;
          wake();
        });
        return pump();
      }
      case 'endless': {
        request.resume();
        response.writeHead(200, { 'Content-Type': 'application/x-git-upload-pack-result' });
        let n = 0;
        const pump = () => {
          while (!response.destroyed) {
            const line = `${'1'.repeat(40)} refs/heads/endless-${n++}\n`;
            const packet = ((line.length + 4).toString(16).padStart(4, '0') + line).repeat(200);
            state.sent += packet.length;
            if (!response.write(packet)) return void response.once('drain', pump);
          }
        };
        response.once('close', () => {
          if (!response.writableEnded) state.hangups++;
          wake();
        });
        return pump();
      }
      case 'fetch-progress':
      case 'fetch-stall': {
        // Only the fetch command misbehaves: read the (small) request body to tell.
        const parts: Buffer[] = [];
        request.on('data', (chunk: Buffer) => parts.push(chunk));
        request.on('end', () => {
          let body = Buffer.concat(parts);
          if (header(request, 'content-encoding') === 'gzip') body = gunzipSync(body);
          if (!body.includes('command=fetch')) {
            return runBackend(options.root, request, response, url, protocol, authorized ? state.auth?.user : undefined, body);
          }
          state.fetches++;
          wake();
          response.once('close', () => {
            state.hangups++;
            wake();
          });
          if (mode.kind === 'fetch-stall') return; // headers never come
          response.writeHead(200, { 'Content-Type': 'application/x-git-upload-pack-result', 'Cache-Control': 'no-cache' });
          // A client that sent "have"s without "done" expects acknowledgments first: "ready" says a pack follows.
          if (!body.includes('0009done\n')) response.write(Buffer.concat([pkt('acknowledgments\n'), pkt('NAK\n'), pkt('ready\n'), Buffer.from('0001')]));
          response.write(pkt('packfile\n'));
          const progress = pkt(Buffer.concat([Buffer.from([2]), Buffer.alloc(65000, 'x'), Buffer.from('\r')]));
          let left = mode.packets;
          const pump = () => {
            while (left > 0 && !response.destroyed) {
              left--;
              state.sent += progress.length;
              if (!response.write(progress)) return void response.once('drain', pump);
            }
            if (!response.destroyed) response.end();
          };
          pump();
        });
        return;
      }
      default:
        return runBackend(options.root, request, response, url, mode.kind === 'v0' ? undefined : protocol, authorized ? state.auth?.user : undefined);
    }
  };

  const server = tlsOptions ? https.createServer(tlsOptions, handler) : http.createServer(handler);
  server.keepAliveTimeout = 60_000; // like a forge: a kept-alive socket outlives a short poll interval
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  await listen(0);
  const port = (server.address() as AddressInfo).port;
  Object.assign(state, {
    port,
    base: `${tlsOptions ? 'https' : 'http'}://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
    start: () => listen(port),
  });
  return state;
}

function header(request: http.IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function checkAuth(request: http.IncomingMessage, auth: { user: string; password: string } | undefined): boolean {
  if (!auth) return true;
  const value = header(request, 'authorization') ?? '';
  if (!value.startsWith('Basic ')) return false;
  return Buffer.from(value.slice(6), 'base64').toString('utf8') === `${auth.user}:${auth.password}`;
}

/** Runs `git http-backend` as a CGI script for one request. */
function runBackend(
  root: string,
  request: http.IncomingMessage,
  response: http.ServerResponse,
  url: URL,
  protocol: string | undefined,
  user: string | undefined,
  /** The request body, when it was read already. */
  body?: Buffer,
): void {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    GIT_PROJECT_ROOT: root,
    GIT_HTTP_EXPORT_ALL: '1',
    GIT_CONFIG_NOSYSTEM: '1',
    HOME: root,
    PATH_INFO: decodeURIComponent(url.pathname),
    QUERY_STRING: url.search.replace(/^\?/, ''),
    REQUEST_METHOD: request.method ?? 'GET',
    CONTENT_TYPE: header(request, 'content-type') ?? '',
    REMOTE_ADDR: '127.0.0.1',
  };
  if (protocol !== undefined) env.GIT_PROTOCOL = protocol;
  if (user !== undefined) env.REMOTE_USER = user;
  const encoding = header(request, 'content-encoding');
  if (encoding && !body) env.HTTP_CONTENT_ENCODING = encoding; // a body read here is inflated already
  const child = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'ignore'] });
  if (body) child.stdin.end(body);
  else request.pipe(child.stdin);
  child.stdin.on('error', () => {});
  let head = Buffer.alloc(0);
  let headersDone = false;
  child.stdout.on('data', (chunk: Buffer) => {
    if (headersDone) return void response.write(chunk);
    head = Buffer.concat([head, chunk]);
    const text = head.toString('latin1');
    const end = text.search(/\r?\n\r?\n/);
    if (end < 0) return;
    const separator = /\r?\n\r?\n/.exec(text)!;
    headersDone = true;
    let status = 200;
    const headers: Record<string, string> = {};
    for (const line of text.slice(0, end).split(/\r?\n/)) {
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      const name = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (name.toLowerCase() === 'status') status = parseInt(value, 10);
      else headers[name] = value;
    }
    response.writeHead(status, headers);
    response.write(head.subarray(end + separator[0].length));
  });
  child.once('close', () => {
    if (!headersDone) response.writeHead(500).end('http-backend printed no headers\n');
    else response.end();
  });
  response.once('close', () => child.kill());
}

/** A CA and a certificate for 127.0.0.1 signed by it, made with `openssl`. */
export function makeCertificates(dir: string): { caFile: string; certFile: string; keyFile: string } {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
  } catch {
    throw new Error('these tests need openssl (Debian package "openssl")');
  }
  const file = (name: string) => join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  openssl('req', '-x509', ...ec, '-keyout', file('ca.key'), '-out', file('ca.crt'), '-days', '2', '-subj', '/CN=grd test CA');
  openssl('req', ...ec, '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=127.0.0.1');
  writeFileSync(file('ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl('x509', '-req', '-in', file('server.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial', '-out', file('server.crt'), '-days', '2', '-extfile', file('ext'));
  return { caFile: file('ca.crt'), certFile: file('server.crt'), keyFile: file('server.key') };
}
