// Remote URLs as this transport uses them: split into what a request needs and what must never be
// shown (the userinfo), and normalised for matching a forge's payload against attached remotes.

import { urlKind } from '../../shared/kit/url.js';

export interface RemoteUrl {
  scheme: 'http' | 'https' | 'git';
  host: string;
  /** Explicit port, if any. */
  port?: number;
  /** The path as in the URL (percent-encoded), without a trailing slash. */
  path: string;
  username?: string;
  password?: string;
  /** The URL without userinfo: for messages, logs and `git credential`. */
  display: string;
}

const DEFAULT_PORTS: Record<string, string> = { http: '80', https: '443', git: '9418', ssh: '22' };

/** Undefined when `url` is not an http(s):// or git:// URL Node can read. */
export function parseRemoteUrl(url: string): RemoteUrl | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  const scheme = parsed.protocol.slice(0, -1).toLowerCase();
  if (scheme !== 'http' && scheme !== 'https' && scheme !== 'git') return undefined;
  if (parsed.hostname === '') return undefined;
  const host = parsed.hostname.toLowerCase();
  const port = parsed.port !== '' && parsed.port !== DEFAULT_PORTS[scheme] ? Number(parsed.port) : undefined;
  const path = parsed.pathname.replace(/\/+$/, '');
  const hostPort = port !== undefined ? `${host}:${port}` : host;
  return {
    scheme,
    host,
    ...(port !== undefined && { port }),
    path,
    ...(parsed.username !== '' && { username: decodeURIComponent(parsed.username) }),
    ...(parsed.password !== '' && { password: decodeURIComponent(parsed.password) }),
    display: `${scheme}://${hostPort}${path}${parsed.search}`,
  };
}

/**
 * One spelling per repository, for matching: scheme and host in lower case, no userinfo, no
 * default port, no trailing `/` or `.git`. An scp-like `git@host:owner/repo.git` becomes
 * `ssh://host/owner/repo`. The path keeps its case: servers differ on whether it matters.
 */
export function normaliseRepoUrl(url: string): string | undefined {
  let text = url.trim();
  if (urlKind(text).kind === 'scp') {
    const colon = text.indexOf(':', text.indexOf('@') + 1);
    const hostPart = text.slice(0, colon);
    const path = text.slice(colon + 1);
    text = `ssh://${hostPart}/${path.replace(/^\/+/, '')}`;
  }
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    return undefined;
  }
  const scheme = parsed.protocol.slice(0, -1).toLowerCase();
  if (parsed.hostname === '') return undefined;
  const host = parsed.hostname.toLowerCase();
  const port = parsed.port !== '' && parsed.port !== DEFAULT_PORTS[scheme] ? `:${parsed.port}` : '';
  let path = parsed.pathname.replace(/\/+$/, '');
  if (path.endsWith('.git')) path = path.slice(0, -4).replace(/\/+$/, '');
  return `${scheme}://${host}${port}${path}`;
}

/** A URL fit for a message: any userinfo in it replaced. */
export function redactUrl(url: string): string {
  return url.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/@]*@/, '$1');
}
