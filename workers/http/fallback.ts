// Whether a remote can be polled by our own ls-refs request, or must be polled by `git ls-remote`.
// Our request honours git's CA settings (http.sslCAInfo, http.sslCAPath, their per-URL forms,
// GIT_SSL_CAINFO, GIT_SSL_CAPATH: trust.ts) and none of its other http.* knobs (proxies, client
// certificates, cookies, extra headers...); where any of those is set, git itself must do the
// talking, or we would report a remote as reachable (or not) where git's fetch sees otherwise.
// Conservative on purpose: every key not known to be harmless or honoured sends the remote to
// `git ls-remote`, which costs ~20 ms more per poll.

import { parseBool, type GitConfig } from '../../shared/gitconfig.js';
import type { CaSettings } from './trust.js';

/** http.* keys whose effect our request matches or that only tune curl's transfers. */
const HARMLESS_HTTP_KEYS = new Set([
  'http.postbuffer',
  'http.lowspeedlimit',
  'http.lowspeedtime',
  'http.maxrequests',
  'http.minsessions',
  'http.followredirects', // we never follow a redirect: the fallback does, as git would
  'http.version',
  'http.useragent', // sent as is
  'http.savecookies', // meaningless without http.cookieFile, which is not harmless
]);

/** Environment git or curl read that would change how a request goes out. */
const HTTP_ENV = [
  'http_proxy',
  'HTTP_PROXY',
  'https_proxy',
  'HTTPS_PROXY',
  'all_proxy',
  'ALL_PROXY',
  'no_proxy',
  'NO_PROXY',
  'GIT_HTTP_PROXY_AUTHMETHOD',
  'GIT_PROXY_SSL_CERT',
  'GIT_PROXY_SSL_KEY',
  'GIT_PROXY_SSL_CAINFO',
  'GIT_PROXY_SSL_CERT_PASSWORD_PROTECTED',
];

/** http.* variables our request honours for https:// (trust.ts), plain or per-URL. */
const CA_VARIABLES = new Set(['sslcainfo', 'sslcapath']);

/** Environment only TLS reads: irrelevant to plain http:// remotes. GIT_SSL_CAINFO and GIT_SSL_CAPATH are honoured (trust.ts). */
const TLS_ENV = [
  'GIT_SSL_NO_VERIFY',
  'GIT_SSL_CERT',
  'GIT_SSL_KEY',
  'GIT_SSL_CERT_PASSWORD_PROTECTED',
  'GIT_SSL_VERSION',
  'GIT_SSL_CIPHER_LIST',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'CURL_CA_BUNDLE',
];

export interface PathDecision {
  /** True when our own ls-refs request may poll this remote. */
  fastPath: boolean;
  /** Why not, in the user's words (config keys and variables, never their values). */
  reasons: string[];
  /** For https://: the CA settings the request must honour, when any is set. */
  ca?: CaSettings;
}

export function decidePath(scheme: 'http' | 'https' | 'git', remote: string, config: GitConfig, env: NodeJS.ProcessEnv): PathDecision {
  const reasons: string[] = [];
  let ca: CaSettings | undefined;
  const has = (key: string) => (config.get(key)?.length ?? 0) > 0;
  if (scheme === 'git') {
    if (has('core.gitproxy')) reasons.push('core.gitProxy is set');
    if (env.GIT_PROXY_COMMAND) reasons.push('GIT_PROXY_COMMAND is set');
  } else {
    const tls = scheme === 'https';
    for (const [key, values] of config) {
      if (!key.startsWith('http.')) continue;
      if (!tls && isTlsKey(key)) continue; // a CA or client certificate changes nothing for http://
      if (CA_VARIABLES.has(key.slice(key.lastIndexOf('.') + 1))) {
        // Which of them applies to this URL, git says when the worker asks (trust.ts).
        if (tls) ca = { ...ca, inConfig: true };
        continue;
      }
      // `http.<url>.<key>`: git's URL matching is subtle (wildcards, paths, users); leave it to git.
      if (key.indexOf('.', 5) >= 0) reasons.push(`${key} is set`);
      else if (key === 'http.sslverify') {
        if (values.some((v) => parseBool(v) !== true)) reasons.push('http.sslVerify is not true');
      } else if (!HARMLESS_HTTP_KEYS.has(key)) reasons.push(`${key} is set`);
    }
    for (const name of tls ? [...HTTP_ENV, ...TLS_ENV] : HTTP_ENV) if (env[name] !== undefined && env[name] !== '') reasons.push(`${name} is set in the environment`);
    if (tls && env.GIT_SSL_CAINFO !== undefined) ca = { inConfig: false, ...ca, caInfoEnv: env.GIT_SSL_CAINFO };
    if (tls && env.GIT_SSL_CAPATH !== undefined) ca = { inConfig: false, ...ca, caPathEnv: env.GIT_SSL_CAPATH };
    for (const key of [`remote.${remote}.proxy`, `remote.${remote}.proxyauthmethod`]) if (has(key)) reasons.push(`${key} is set`);
  }
  for (const key of ['protocol.allow', `protocol.${scheme}.allow`]) {
    if (config.get(key)?.some((v) => v !== 'always')) reasons.push(`${key} limits the protocol`);
  }
  if (env.GIT_ALLOW_PROTOCOL) reasons.push('GIT_ALLOW_PROTOCOL is set in the environment');
  return { fastPath: reasons.length === 0, reasons, ...(ca && { ca }) };
}

/** http.ssl* and http.pinnedPubkey: TLS only (a per-URL form is still left to git). */
function isTlsKey(key: string): boolean {
  return key.indexOf('.', 5) < 0 && (key.startsWith('http.ssl') || key === 'http.pinnedpubkey');
}

/** The User-Agent git would send: GIT_HTTP_USER_AGENT, else http.userAgent, else ours. */
export function userAgent(config: GitConfig, env: NodeJS.ProcessEnv): string {
  return env.GIT_HTTP_USER_AGENT || config.get('http.useragent')?.at(-1) || 'git/2 (git-remote-daemon)';
}
