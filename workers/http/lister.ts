// One remote's ref listing, by the cheapest way that is right for it: our own ls-refs request
// (HTTP POST or git:// connection) when git's config has nothing it would not honour, else
// `git ls-remote`. A server that turns out not to speak protocol v2 (or redirects, or presents a
// certificate Node does not trust but git might) sends the remote to `git ls-remote` for as long
// as the connection lasts: git then decides, with its own words when it fails too.

import http from 'node:http';
import https from 'node:https';
import { NeedsUser, type RefMap } from '../../shared/transport.js';
import { report, fill, credentialAdvice, type Credential } from './credentials.js';
import { listRefsGit } from './gitproto.js';
import { LsRefsParser, lsRefsRequest, NotV2Error } from '../wire/lsrefs.js';
import { lsRemote } from './lsremote.js';
import { DEFAULT_LIMITS, type HttpOptions, type Limits } from './options.js';
import { underPrefixes } from './refprefixes.js';
import { post, TLS_TRUST_ERRORS } from './request.js';
import { parseRetryAfter } from './retryafter.js';
import { resolveTrust } from './trust.js';
import type { RemoteUrl } from './urls.js';

/** The server asked us to wait (429, or 503 with Retry-After). */
export class Throttled extends Error {
  override name = 'Throttled';
  constructor(
    message: string,
    /** How long, when the server said. */
    readonly waitMs: number | undefined,
  ) {
    super(message);
  }
}

export interface ListerConfig {
  url: RemoteUrl;
  /** The remote's name, for `git ls-remote <name>`. */
  remote: string;
  cwd: string;
  prefixes: readonly string[];
  options: HttpOptions;
  log(text: string): void;
}

export class RefLister {
  private fast: boolean;
  private readonly limits: Limits;
  /** Made at the first listing over http(s) (its CAs may have to be read first). */
  private agent: http.Agent | undefined;
  private closed = false;
  /** Credentials the server accepted: sent up front on every later request (one request a poll). */
  private credential: Credential | undefined;
  private readonly body: Buffer;

  constructor(private readonly config: ListerConfig) {
    this.fast = config.options.fastPath;
    this.limits = { ...DEFAULT_LIMITS, ...config.options.limits };
    if (!this.fast) config.log(`listing refs with git ls-remote: ${config.options.fallbackReasons.join('; ')}`);
    this.body = lsRefsRequest(config.prefixes);
  }

  /** How the refs are listed now, for the log and tests. */
  get method(): 'ls-refs' | 'ls-remote' {
    return this.fast ? 'ls-refs' : 'ls-remote';
  }

  async list(signal: AbortSignal): Promise<RefMap> {
    if (this.fast && this.config.url.scheme !== 'git' && this.agent === undefined) await this.makeAgent(signal);
    if (this.fast) {
      try {
        const refs = this.config.url.scheme === 'git' ? await this.listGit(signal) : await this.listHttp(signal);
        return underPrefixes(refs, this.config.prefixes);
      } catch (err) {
        const why = fallbackReason(err);
        if (why === undefined || signal.aborted) throw err;
        this.fast = false;
        this.config.log(`${this.config.url.display}: ${why}; listing refs with git ls-remote from now on`);
      }
    }
    return lsRemote({
      cwd: this.config.cwd,
      remote: this.config.remote,
      prefixes: this.config.prefixes,
      signal,
      ...this.limits,
      display: this.config.url.display,
      advice: this.advice(),
    });
  }

  close(): void {
    this.closed = true;
    this.agent?.destroy();
  }

  /** One kept-alive socket per remote (polls reuse it while the server keeps it open), trusting the CAs git would. */
  private async makeAgent(signal: AbortSignal): Promise<void> {
    const { url, options } = this.config;
    if (url.scheme === 'http') {
      this.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      return;
    }
    let ca: string[] | undefined;
    if (options.ca) {
      const trust = await resolveTrust(url, this.config.cwd, options.ca, signal);
      if (!trust.ok) {
        this.fast = false;
        this.config.log(`${url.display}: ${trust.reason}; listing refs with git ls-remote`);
        return;
      }
      ca = trust.ca;
    }
    signal.throwIfAborted();
    if (this.closed) throw new Error(`${url.display}: the connection is closed`);
    this.agent = new https.Agent({ keepAlive: true, maxSockets: 1, ...(ca && { ca }) });
  }

  private listGit(signal: AbortSignal): Promise<RefMap> {
    return listRefsGit({ url: this.config.url, prefixes: this.config.prefixes, signal, ...this.limits });
  }

  private async listHttp(signal: AbortSignal): Promise<RefMap> {
    const { url } = this.config;
    // At most: the remembered credentials refused (revoked?), then whatever the helpers have now.
    let fresh = false;
    for (let attempt = 0; attempt < 3; attempt++) {
      const sent = this.credential;
      const parser = new LsRefsParser();
      const result = await post({
        url: `${url.scheme}://${url.port !== undefined ? `${url.host}:${url.port}` : url.host}${url.path}/git-upload-pack`,
        body: this.body,
        headers: {
          'Content-Type': 'application/x-git-upload-pack-request',
          Accept: 'application/x-git-upload-pack-result',
          'Git-Protocol': 'version=2',
          'User-Agent': this.config.options.userAgent,
          ...(sent && { Authorization: `Basic ${Buffer.from(`${sent.username}:${sent.password}`).toString('base64')}` }),
        },
        agent: this.agent!,
        signal,
        timeoutMs: this.limits.timeoutMs,
        maxBytes: this.limits.maxBytes,
        consume: (chunk) => parser.push(chunk),
      });
      if (result.kind === 'ok') {
        const refs = parser.finish();
        if (sent && fresh) await report(this.config.cwd, 'approve', sent, signal);
        return refs;
      }
      const { status } = result;
      if (status === 401) {
        if (sent) {
          this.credential = undefined;
          await report(this.config.cwd, 'reject', sent, signal);
          if (fresh) throw new NeedsUser(`${url.display} refused the credentials git's helpers gave. ${this.advice()}`);
        }
        const found = await fill(this.config.cwd, url, signal);
        if (!found) throw new NeedsUser(`${url.display} needs credentials and git has none. ${this.advice()}`);
        this.credential = found;
        fresh = true;
        continue;
      }
      if (status === 403) throw new NeedsUser(`${url.display} refused access (HTTP 403)${detail(result.text)}. ${this.advice()}`);
      if (status === 429 || (status === 503 && result.headers['retry-after'] !== undefined)) {
        const waitMs = parseRetryAfter(header(result.headers['retry-after']));
        throw new Throttled(`${url.display} asks us to slow down (HTTP ${status})`, waitMs);
      }
      if (status >= 300 && status < 400) throw new Redirected(`${url.display} redirects (HTTP ${status})`);
      if (status === 200) throw new NotV2Error(`the answer is not a git result (Content-Type ${header(result.headers['content-type']) ?? 'none'})`);
      throw new Error(`${url.display} answered HTTP ${status}${detail(result.text)}`);
    }
    throw new NeedsUser(`${url.display} keeps refusing credentials. ${this.advice()}`);
  }

  private advice(): string {
    return credentialAdvice(this.config.options.credentialHelpers, this.config.url.display);
  }
}

class Redirected extends Error {
  override name = 'Redirected';
}

/** Why git should take over from our request, or undefined when the failure is the remote's. */
function fallbackReason(err: unknown): string | undefined {
  if (err instanceof NotV2Error) return `no protocol v2 answer (${err.message})`;
  if (err instanceof Redirected) return `${err.message}, which git follows as http.followRedirects says`;
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== undefined && TLS_TRUST_ERRORS.has(code)) return `Node does not trust its certificate (${code}); git may`;
  return undefined;
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The first line of an error page, if it is short text: servers often say why there. */
function detail(text: string): string {
  const line = text.split('\n').find((l) => l.trim() !== '')?.trim() ?? '';
  return line !== '' && line.length < 200 && !line.startsWith('<') ? `: ${line}` : '';
}
