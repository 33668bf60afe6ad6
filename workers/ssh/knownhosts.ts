// Host key verification against OpenSSH known_hosts files, as ssh does it: plain and hashed
// (`|1|salt|hmac`) host names, `[host]:port` for other ports, `*`/`?` wildcards and `!` negation,
// `@revoked` keys, several files. `@cert-authority` lines are recognised but not supported (ssh2
// cannot verify host certificates): they never make a host known, and the check says so.
//
// The daemon can never ask "are you sure you want to continue connecting?": an unknown or changed
// key refuses the connection, unless the user chose accept-new (append, as ssh does) or no.

import { createHash, createHmac, randomBytes } from 'node:crypto';
import { appendFile, mkdir, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface KnownHostEntry {
  file: string;
  /** 1-based line number. */
  line: number;
  marker?: 'revoked' | 'cert-authority';
  /** The host field as written: comma-separated patterns, or one `|1|salt|hash`. */
  hosts: string;
  keyType: string;
  /** The raw public key blob (base64-decoded). */
  key: Buffer;
}

export type HostKeyCheck =
  | { status: 'match'; entry: KnownHostEntry; notes: string[] }
  /** The host is known with other key(s): possibly an attack. */
  | { status: 'mismatch'; knownFingerprints: string[]; entries: KnownHostEntry[]; notes: string[] }
  | { status: 'revoked'; entry: KnownHostEntry; notes: string[] }
  | { status: 'unknown'; notes: string[] };

/** `SHA256:<base64 without padding>`, as ssh prints a key's fingerprint. */
export function fingerprint(key: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(key).digest('base64').replace(/=+$/, '');
}

/** The key type named inside an ssh public key blob (`ssh-ed25519`, `ssh-rsa`, ...). */
export function keyTypeOf(key: Buffer): string {
  if (key.length < 4) return '';
  const len = key.readUInt32BE(0);
  return key.subarray(4, 4 + len).toString('latin1');
}

/** The name ssh looks a host up under: HostKeyAlias as is, else `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(hostname: string, port: number, hostKeyAlias?: string): string {
  if (hostKeyAlias) return hostKeyAlias;
  return port === 22 ? hostname : `[${hostname}]:${port}`;
}

/** Parses one known_hosts file's text; malformed lines are skipped (ssh skips them too). */
export function parseKnownHosts(text: string, file: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const trimmed = lines[i]!.trim();
    if (!trimmed || trimmed.startsWith('#')) continue;
    const fields = trimmed.split(/\s+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0]!.startsWith('@')) {
      const m = fields.shift()!;
      if (m === '@revoked') marker = 'revoked';
      else if (m === '@cert-authority') marker = 'cert-authority';
      else continue; // unknown marker: ssh ignores the line
    }
    const [hosts, keyType, base64] = fields;
    if (!hosts || !keyType || !base64 || !/^[A-Za-z0-9+/]+=*$/.test(base64)) continue;
    const key = Buffer.from(base64, 'base64');
    if (keyTypeOf(key) !== keyType) continue; // corrupt, or a type field that lies
    entries.push({ file, line: i + 1, marker, hosts, keyType, key });
  }
  return entries;
}

/** Reads and parses the given files in order; missing or unreadable files count as empty. */
export async function loadKnownHosts(files: string[]): Promise<KnownHostEntry[]> {
  const all: KnownHostEntry[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      continue;
    }
    all.push(...parseKnownHosts(text, file));
  }
  return all;
}

/** Whether an entry's host field matches `name` (already `[host]:port` or alias form). */
export function hostMatches(hosts: string, name: string): boolean {
  const lower = name.toLowerCase();
  if (hosts.startsWith('|1|')) {
    const [, , salt, hash] = hosts.split('|');
    if (!salt || !hash) return false;
    const mac = createHmac('sha1', Buffer.from(salt, 'base64')).update(lower).digest('base64');
    return mac === hash;
  }
  let matched = false;
  for (const raw of hosts.split(',')) {
    const negated = raw.startsWith('!');
    const pattern = (negated ? raw.slice(1) : raw).toLowerCase();
    if (!wildcardMatch(pattern, lower)) continue;
    if (negated) return false; // a negated match wins over everything (ssh's match_hostname)
    matched = true;
  }
  return matched;
}

function wildcardMatch(pattern: string, text: string): boolean {
  const re = new RegExp('^' + pattern.replace(/[.+^${}()|\\[\]]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$', 's');
  return re.test(text);
}

/** Checks `key` (the blob the server presented) for `name` against the loaded entries. */
export function checkHostKey(entries: KnownHostEntry[], name: string, key: Buffer): HostKeyCheck {
  const notes: string[] = [];
  const forHost = entries.filter((e) => hostMatches(e.hosts, name));
  const revoked = forHost.find((e) => e.marker === 'revoked' && e.key.equals(key));
  if (revoked) return { status: 'revoked', entry: revoked, notes };
  if (forHost.some((e) => e.marker === 'cert-authority')) {
    notes.push(`@cert-authority lines for ${name} are ignored: host certificates are not supported`);
  }
  const plain = forHost.filter((e) => !e.marker);
  const match = plain.find((e) => e.key.equals(key));
  if (match) return { status: 'match', entry: match, notes };
  if (plain.length > 0) {
    const knownFingerprints = [...new Set(plain.map((e) => fingerprint(e.key)))];
    return { status: 'mismatch', knownFingerprints, entries: plain, notes };
  }
  return { status: 'unknown', notes };
}

/** ssh2 server host key algorithms for each known_hosts key type. */
const ALGORITHMS_FOR_KEY_TYPE: Record<string, string[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
  'ssh-dss': ['ssh-dss'],
};

/**
 * The server host key algorithms to offer so that the server presents a key we know (ssh does the
 * same): the algorithms for the key types known for `name`, in ssh2's order of preference.
 * Undefined when nothing usable is known (then any algorithm may be offered: the key is unknown anyway).
 */
export function hostKeyAlgorithmsFor(entries: KnownHostEntry[], name: string): string[] | undefined {
  const types = new Set(entries.filter((e) => !e.marker && hostMatches(e.hosts, name)).map((e) => e.keyType));
  const algorithms = [...types].flatMap((t) => ALGORITHMS_FOR_KEY_TYPE[t] ?? []);
  if (algorithms.length === 0) return undefined;
  const order = Object.values(ALGORITHMS_FOR_KEY_TYPE).flat();
  return [...new Set(algorithms)].sort((a, b) => order.indexOf(a) - order.indexOf(b));
}

/** A known_hosts line for `name` and `key`, hashed as `HashKnownHosts yes` would write it. */
export function knownHostsLine(name: string, key: Buffer, hashed: boolean): string {
  let hostField = name;
  if (hashed) {
    const salt = randomBytes(20);
    const hash = createHmac('sha1', salt).update(name.toLowerCase()).digest('base64');
    hostField = `|1|${salt.toString('base64')}|${hash}`;
  }
  return `${hostField} ${keyTypeOf(key)} ${key.toString('base64')}`;
}

/**
 * Appends `name key` to `file` as ssh's accept-new does; creates the file 0600 and its directory
 * 0700 when missing. Returns the line written.
 */
export async function addKnownHost(file: string, name: string, key: Buffer, hashed: boolean): Promise<string> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const line = knownHostsLine(name, key, hashed);
  // Start on a fresh line if the file does not end with one.
  let prefix = '';
  try {
    const info = await stat(file);
    if (info.size > 0) {
      const text = await readFile(file);
      if (text[text.length - 1] !== 0x0a) prefix = '\n';
    }
  } catch {
    // new file
  }
  await appendFile(file, `${prefix}${line}\n`, { mode: 0o600 });
  return line;
}
