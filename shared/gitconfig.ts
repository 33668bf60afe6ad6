// git's config as git itself reads it: parsing `git config -z --list`, git's boolean spellings,
// the last-value rule for single-valued keys, and `insteadOf` rewriting. No knowledge of remotes or
// transports here, so transports can read config without depending on the daemon's config.

import { isAbsolute, resolve } from 'node:path';
import type { RepoInfo } from './workerapi.js';

/** Multi-valued view of git's config: every key (as git prints it) -> its values in order. */
export type GitConfig = Map<string, string[]>;

/** Parses `git config -z --list`: entries end with NUL, the key ends at the first newline. */
export function parseConfigList(text: string): GitConfig {
  const config: GitConfig = new Map();
  for (const entry of text.split('\0')) {
    if (entry === '') continue;
    const newline = entry.indexOf('\n');
    // A key with no value at all (`[section] flag`) means boolean true to git.
    const key = newline < 0 ? entry : entry.slice(0, newline);
    const value = newline < 0 ? 'true' : entry.slice(newline + 1);
    const values = config.get(key);
    if (values) values.push(value);
    else config.set(key, [value]);
  }
  return config;
}

/** Git's boolean spellings, integers included (non-zero is true); undefined when the value is not a boolean. */
export function parseBool(value: string): boolean | undefined {
  const v = value.toLowerCase();
  if (['true', 'yes', 'on', '1'].includes(v)) return true;
  if (['false', 'no', 'off', '0', ''].includes(v)) return false;
  const n = gitInt(v);
  return n === undefined ? undefined : n !== 0n;
}

const UNITS = { '': 1n, k: 1024n, m: 1024n ** 2n, g: 1024n ** 3n } as const;
const INT_MAX = 2n ** 31n - 1n;

/**
 * An integer as git's config reads one (git_parse_int, lowercased here): C's forms (0x1f, 017,
 * leading blanks, a sign), then k, m or g; out of int's range (either sign) it is none.
 */
function gitInt(v: string): bigint | undefined {
  const match = /^\s*([+-]?)(0x[0-9a-f]+|0[0-7]*|[1-9][0-9]*)([kmg]?)$/.exec(v);
  if (!match) return undefined;
  const [, sign, digits, unit] = match;
  const literal = digits.startsWith('0x') ? digits : digits.length > 1 && digits.startsWith('0') ? `0o${digits.slice(1)}` : digits;
  const magnitude = BigInt(literal) * UNITS[unit as keyof typeof UNITS];
  if (magnitude > INT_MAX) return undefined;
  return sign === '-' ? -magnitude : magnitude;
}

/** The value git uses for a single-valued key: the last one. */
export function last(config: GitConfig, key: string): string | undefined {
  return config.get(key)?.at(-1);
}

/** Applies `url.<base>.insteadOf`: the longest matching prefix wins, as in git. */
export function rewriteUrl(config: GitConfig, url: string): string {
  let best: { base: string; prefix: string } | undefined;
  for (const [key, values] of config) {
    if (!key.startsWith('url.') || !key.endsWith('.insteadof')) continue;
    const base = key.slice('url.'.length, -'.insteadof'.length);
    for (const prefix of values) {
      if (url.startsWith(prefix) && (!best || prefix.length > best.prefix.length)) best = { base, prefix };
    }
  }
  return best ? best.base + url.slice(best.prefix.length) : url;
}

/** The local path a `file://` URL or plain path names, made absolute against the repository. */
export function localPath(url: string, repo: RepoInfo): string {
  const path = url.startsWith('file://') ? url.slice('file://'.length) : url;
  return isAbsolute(path) ? path : resolve(repo.cwd, path);
}

