// The control protocol: every message either side can send, parsed and printed here and nowhere
// else. One message per line, words separated by single spaces. See docs/protocol.md.

/** Messages the daemon sends to whoever controls it. */
export type Emitted =
  | { type: 'CONNECTED'; remote: string }
  | { type: 'DISCONNECTED'; remote: string }
  | { type: 'SYNCING'; remote: string }
  | { type: 'DONESYNCING'; remote: string; ok: boolean }
  | { type: 'WARNING'; remote: string; text: string };

/** Messages the daemon accepts from whoever controls it. */
export type Consumed =
  | { type: 'PAUSE' }
  | { type: 'LOSTNET' }
  | { type: 'RESUME' }
  | { type: 'CHANGED'; refs: string[] }
  | { type: 'RELOAD' }
  /** Fetch now, over the daemon's own connections: from the remotes named, or all when none is. */
  | { type: 'FETCH'; remotes: string[] }
  | { type: 'STOP' };

export type ConsumedType = Consumed['type'];

/** A consumed line is longer than any sane message at this size; the rest of it is discarded. */
export const MAX_LINE_BYTES = 64 * 1024;

/**
 * The name used in WARNING lines that are about the daemon itself rather than one remote.
 * It cannot clash with a remote: git refuses remote names containing `*`.
 */
export const DAEMON = '*';

/** True when a remote's name can stand as one word of a protocol line. */
export function isProtocolWord(name: string): boolean {
  return /^[^\s\x00-\x1f\x7f*]+$/.test(name);
}

export type ParseResult = { ok: true; message: Consumed } | { ok: false; error: string };

const NO_ARGS = new Set<ConsumedType>(['PAUSE', 'LOSTNET', 'RESUME', 'RELOAD', 'STOP']);

/** Parses one consumed line (without its line terminator). Never throws. */
export function parseConsumed(line: string): ParseResult {
  if (line.endsWith('\r')) line = line.slice(0, -1); // tolerate CRLF senders
  if (line.length === 0) return { ok: false, error: 'empty line' };
  if (/[\x00-\x1f\x7f]/.test(line)) return { ok: false, error: 'control character in line' };
  if (line.includes('\uFFFD')) return { ok: false, error: 'line is not valid UTF-8' };
  const words = line.split(' ');
  const verb = words[0];
  const args = words.slice(1);
  if (args.some((w) => w === '')) return { ok: false, error: `stray space in ${describe(verb)}` };
  if (NO_ARGS.has(verb as ConsumedType)) {
    if (args.length > 0) return { ok: false, error: `${verb} takes no arguments` };
    return { ok: true, message: { type: verb } as Consumed };
  }
  if (verb === 'CHANGED') {
    if (args.length === 0) return { ok: false, error: 'CHANGED needs at least one ref' };
    return { ok: true, message: { type: 'CHANGED', refs: args } };
  }
  if (verb === 'FETCH') {
    // `*` names the daemon, never a remote: refuse it rather than fetch nothing.
    const bad = args.find((name) => !isProtocolWord(name));
    if (bad !== undefined) return { ok: false, error: `FETCH: ${describe(bad)} cannot be a remote's name` };
    return { ok: true, message: { type: 'FETCH', remotes: args } };
  }
  const near = nearestVerb(verb);
  return { ok: false, error: `unknown message ${describe(verb)}${near ? `; did you mean ${near}?` : ''}` };
}

export const VERBS: readonly ConsumedType[] = ['PAUSE', 'LOSTNET', 'RESUME', 'CHANGED', 'RELOAD', 'FETCH', 'STOP'];

/**
 * The message a mistyped verb most likely meant: the same word in another case (`pause`), or one
 * within two edits of it (`PASUE`, `RELAOD`). Undefined when nothing is that close.
 */
export function nearestVerb(word: string): ConsumedType | undefined {
  const upper = word.toUpperCase();
  let best: ConsumedType | undefined;
  let bestDistance = 3;
  for (const verb of VERBS) {
    const d = editDistance(upper, verb);
    if (d < bestDistance) [best, bestDistance] = [verb, d];
  }
  return best;
}

/** Levenshtein distance, with a swap of two neighbours counting as one edit. */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

function describe(word: string): string {
  const shown = word.length > 40 ? `${word.slice(0, 40)}...` : word;
  return JSON.stringify(shown);
}

/** Prints one emitted message as a line, without the newline. */
export function formatEmitted(message: Emitted): string {
  switch (message.type) {
    case 'CONNECTED':
    case 'DISCONNECTED':
    case 'SYNCING':
      return `${message.type} ${message.remote}`;
    case 'DONESYNCING':
      return `DONESYNCING ${message.remote} ${message.ok ? 1 : 0}`;
    case 'WARNING':
      return `WARNING ${message.remote} ${oneLine(message.text)}`;
  }
}

/** Prints one consumed message as a line (used by `send` and by tests). */
export function formatConsumed(message: Consumed): string {
  if (message.type === 'CHANGED') return `CHANGED ${message.refs.join(' ')}`;
  if (message.type === 'FETCH') return ['FETCH', ...message.remotes].join(' ');
  return message.type;
}

/** Parses an emitted line; for clients of the daemon (tests, demo, status). */
export function parseEmitted(line: string): Emitted | undefined {
  const match = /^(CONNECTED|DISCONNECTED|SYNCING|DONESYNCING|WARNING) (\S+)(?: (.*))?$/.exec(line);
  if (!match) return undefined;
  const [, type, remote, rest] = match;
  switch (type) {
    case 'DONESYNCING':
      return rest === '1' || rest === '0' ? { type, remote, ok: rest === '1' } : undefined;
    case 'WARNING':
      return { type, remote, text: rest ?? '' };
    default:
      return rest === undefined ? ({ type, remote } as Emitted) : undefined;
  }
}

/** Warning texts come from anywhere (stderr of git, a remote's garbage): keep them to one line. */
function oneLine(text: string): string {
  const flat = text.replace(/[\x00-\x1f\x7f]+/g, ' ').trim();
  return flat.length > 2000 ? `${flat.slice(0, 2000)}...` : flat;
}
