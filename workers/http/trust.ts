// The certificate authorities git trusts for an https:// remote, for our own ls-refs request: the
// settings git hands to curl (http.sslCAInfo / http.sslCAPath, their per-URL forms
// http.<url>.sslCAInfo / .sslCAPath, and GIT_SSL_CAINFO / GIT_SSL_CAPATH, which override them), read
// the way git reads them. Which per-URL entry applies is asked of git itself (`git config
// --get-urlmatch`), so its URL matching rules (paths, users, `*.host` wildcards) are git's own.
//
// What we trust is never more than git does: a CA file replaces the default store (as in curl); a
// CA directory adds the certificates OpenSSL would look up in it (the `<hash>.<n>` files). Where
// git's curl might trust more (its built-in CA directory besides a CA file), Node refuses and
// lister.ts hands the remote to `git ls-remote`, which then decides.

import { X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createSecureContext, rootCertificates } from 'node:tls';
import { isAbsolute, join, resolve } from 'node:path';
import { run } from '../children.js';
import type { RemoteUrl } from './urls.js';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** What the coordinator saw (fallback.ts): whether to ask git's config, and the environment's say. */
export interface CaSettings {
  /** An http.sslCAInfo / http.sslCAPath key (plain or per-URL) is in git's config. */
  inConfig: boolean;
  /** GIT_SSL_CAINFO, when set: overrides the config, as in git. */
  caInfoEnv?: string;
  /** GIT_SSL_CAPATH, when set. */
  caPathEnv?: string;
}

export type Trust = { ok: true; ca: string[] } | { ok: false; reason: string };

/** A CA bundle larger than this is not a CA bundle (Debian's whole store is ~220 KB). */
const MAX_CA_FILE_BYTES = 4 * 1024 * 1024;
/** At most this many certificates files read from a CA directory (Debian's has ~300). */
const MAX_CA_DIR_FILES = 4000;
/** The names OpenSSL looks certificates up by in a CA directory (c_rehash, openssl rehash). */
const HASHED_NAME = /^[0-9a-f]{8}\.[0-9]+$/;

/** The URL git matches http.<url>.* against: userinfo but never a password (not on a command line). */
export function urlForMatching(url: RemoteUrl): string {
  const user = url.username !== undefined ? `${encodeURIComponent(url.username)}@` : '';
  const port = url.port !== undefined ? `:${url.port}` : '';
  return `${url.scheme}://${user}${url.host}${port}${url.path}/`;
}

/** The CAs to hand to Node for `url`, or why git must do the talking. */
export async function resolveTrust(url: RemoteUrl, cwd: string, settings: CaSettings, signal: AbortSignal): Promise<Trust> {
  let caInfo = settings.caInfoEnv;
  let caPath = settings.caPathEnv;
  if (settings.inConfig && (caInfo === undefined || caPath === undefined)) {
    let fromConfig: Map<string, string>;
    try {
      fromConfig = await effectiveHttpConfig(url, cwd, signal);
    } catch (err) {
      signal.throwIfAborted();
      return { ok: false, reason: `cannot read the CA settings for it from git's config (${(err as Error).message})` };
    }
    caInfo ??= fromConfig.get('http.sslcainfo');
    caPath ??= fromConfig.get('http.sslcapath');
  }
  const ca: string[] = [];
  if (caInfo === undefined) ca.push(...rootCertificates); // curl's default store; Node's stands in for it, as with no settings
  else {
    const read = readCaFile(caInfo, cwd);
    if (typeof read !== 'string') return { ok: false, reason: `http.sslCAInfo ${read.error}` };
    ca.push(read);
  }
  if (caPath !== undefined) {
    const read = readCaDir(caPath, cwd);
    if (!Array.isArray(read)) return { ok: false, reason: `http.sslCAPath ${read.error}` };
    ca.push(...read);
  }
  try {
    // Node's store skips a certificate it cannot parse without a word: read each one here, so a
    // broken one is refused with its reason rather than met later as an unverifiable server.
    for (const pem of ca) for (const block of pem.match(PEM_CERTIFICATE) ?? []) new X509Certificate(block);
    createSecureContext({ ca }); // what the agent will do: refuse here what Node cannot parse
  } catch (err) {
    return { ok: false, reason: `Node cannot read its CA certificates (${(err as Error).message})` };
  }
  return { ok: true, ca };
}

/** The http.* values git uses for `url` (`git config --get-urlmatch`), paths expanded as git does. */
async function effectiveHttpConfig(url: RemoteUrl, cwd: string, signal: AbortSignal): Promise<Map<string, string>> {
  const values = new Map<string, string>();
  let stdout: string;
  try {
    // spawn's own timeout: see runCredential (credentials.ts).
    ({ stdout } = await run('git', ['config', '-z', '--type=path', '--get-urlmatch', 'http', urlForMatching(url)], {
      cwd,
      signal,
      timeout: 10_000,
    }));
  } catch (err) {
    if ((err as { exitCode?: number }).exitCode === 1) return values; // nothing set for this URL
    throw new Error(((err as { stderr?: string }).stderr || (err as Error).message).trim().split('\n')[0]);
  }
  for (const entry of stdout.split('\0')) {
    const nl = entry.indexOf('\n');
    if (nl > 0) values.set(entry.slice(0, nl), entry.slice(nl + 1));
  }
  return values;
}

/** A path from git's config or environment, as curl opens it: relative to git's working directory. */
function fromGit(path: string, cwd: string): string {
  return isAbsolute(path) ? path : resolve(cwd, path);
}

function readCaFile(path: string, cwd: string): string | { error: string } {
  if (path === '') return { error: 'is empty' };
  const file = fromGit(path, cwd);
  try {
    if (statSync(file).size > MAX_CA_FILE_BYTES) return { error: `${file} is over ${MAX_CA_FILE_BYTES} bytes` };
    const text = readFileSync(file, 'latin1');
    if (!text.includes('-----BEGIN CERTIFICATE-----')) return { error: `${file} holds no PEM certificate` };
    return text;
  } catch (err) {
    return { error: `${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` };
  }
}

function readCaDir(path: string, cwd: string): string[] | { error: string } {
  if (path === '') return { error: 'is empty' };
  const dir = fromGit(path, cwd);
  let names: string[];
  try {
    names = readdirSync(dir).filter((name) => HASHED_NAME.test(name));
  } catch (err) {
    return { error: `${dir} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` };
  }
  if (names.length > MAX_CA_DIR_FILES) return { error: `${dir} has over ${MAX_CA_DIR_FILES} certificates` };
  const certificates: string[] = [];
  for (const name of names) {
    try {
      const file = join(dir, name);
      if (statSync(file).size > MAX_CA_FILE_BYTES) continue;
      const text = readFileSync(file, 'latin1');
      if (text.includes('-----BEGIN CERTIFICATE-----')) certificates.push(text);
    } catch {
      // A dangling link is skipped, as OpenSSL skips it.
    }
  }
  return certificates;
}
