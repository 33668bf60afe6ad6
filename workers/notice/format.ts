// A change notice: "the remote at this URL has these refs at these values now", sent to the user's
// other devices so that their daemons look at once instead of at their next poll. It is the same
// few hundred bytes over every carrier (XMPP today, a peer-to-peer link tomorrow), and it is only
// ever a hint: a receiver lists the remote's refs itself and never fetches a sha because a notice
// named it. So decoding is strict and bounded, and a notice that is not exactly right is dropped.

import { urlKind } from '../../shared/kit/url.js';
import { OBJECT_ID } from '../../shared/kit/objectid.js';

export interface Notice {
  /** The remote's URL, normalised (normaliseUrl): the same on every device that has the remote. */
  url: string;
  /** Remote ref name -> value, as the sender saw them; informational, at most MAX_REFS. */
  refs: [string, string][];
}

/** Anything longer is not a notice this version sent: refused before parsing. */
export const MAX_NOTICE_BYTES = 8192;
export const MAX_REFS = 64;
const MAX_URL = 1024;
const MAX_REF_NAME = 255;
const VERSION = 1;

export function encodeNotice(notice: Notice): string {
  return JSON.stringify({ v: VERSION, url: notice.url, refs: Object.fromEntries(notice.refs.slice(0, MAX_REFS)) });
}

/** The notice in `text`, or undefined for anything that is not a well-formed one. */
export function decodeNotice(text: string): Notice | undefined {
  if (Buffer.byteLength(text) > MAX_NOTICE_BYTES) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { v, url, refs } = value as Record<string, unknown>;
  // A later version may add fields; one that changes their meaning bumps v and is ignored here.
  if (v !== VERSION || typeof url !== 'string' || url.length === 0 || url.length > MAX_URL) return undefined;
  if (typeof refs !== 'object' || refs === null || Array.isArray(refs)) return undefined;
  const entries = Object.entries(refs as Record<string, unknown>);
  if (entries.length > MAX_REFS) return undefined;
  const checked: [string, string][] = [];
  for (const [name, sha] of entries) {
    if (!isRefName(name) || typeof sha !== 'string' || !OBJECT_ID.test(sha)) return undefined;
    checked.push([name, sha]);
  }
  return { url, refs: checked };
}

function isRefName(name: string): boolean {
  // Enough of git's check-ref-format to keep junk out of logs and status; never used as a path.
  return name.length <= MAX_REF_NAME && /^refs\/[\x21-\x7e]+$/.test(name) && !name.includes('..');
}

/**
 * One spelling for every way of writing the same repository's address, so that a device cloning
 * with `git@github.com:a/b.git` and another with `https://user:token@GitHub.com/a/b/` hear each
 * other: no scheme, no credentials, no port, host in lower case, no leading or trailing `/`, no
 * `.git`. A false match only costs the receiver one ref listing; a missed one costs a poll interval.
 * Undefined for addresses that name nothing another device could share (relative paths, helpers).
 */
export function normaliseUrl(url: string): string | undefined {
  const kind = urlKind(url);
  let host: string;
  let path: string;
  if (kind.kind === 'helper') return undefined;
  if (kind.kind === 'path') {
    if (!url.startsWith('/')) return undefined;
    host = '';
    path = url;
  } else if (kind.kind === 'scp') {
    const colon = url.indexOf(':', url.indexOf(']') + 1);
    host = url.slice(0, colon);
    path = url.slice(colon + 1);
  } else {
    const rest = url.slice(url.indexOf('://') + 3);
    const slash = rest.indexOf('/');
    host = slash < 0 ? rest : rest.slice(0, slash);
    path = slash < 0 ? '' : rest.slice(slash);
    if (kind.scheme === 'file') host = '';
  }
  host = host.slice(host.lastIndexOf('@') + 1); // user and password
  host = host.replace(/:\d*$/, '').replace(/^\[(.*)\]$/, '$1').toLowerCase();
  path = path.replace(/\/+$/, '').replace(/\.git$/, '').replace(/\/+$/, '').replace(/^\/+/, '');
  if (!path) return undefined;
  return host ? `${host}/${path}` : `/${path}`;
}
