// The notifier wire protocol, shared by the server (`git-remote-daemon notifychanges`) and the
// ssh transport that reads it. It is the protocol of `git-annex-shell notifychanges`, byte for byte:
//
//   READY\n                          once the notifier is watching
//   CHANGED <sha> [<sha>...]\n       the new values of the refs that changed, one line per batch
//
// and one extension, which git-annex-shell (it reads and ignores its stdin) never sees the need of:
// the client may write `PING\n` to the notifier's stdin, and our notifier answers `PONG\n` in
// order with its other lines. That is how a client tells a wedged notifier from a quiet one.
//
// Words are separated by single spaces; shas are lowercase hex object ids (SHA-1 or SHA-256).
// See docs/server.md.

import { OBJECT_ID } from './kit/objectid.js';

export type NotifyLine = { type: 'READY' } | { type: 'PONG' } | { type: 'CHANGED'; shas: string[] };

/** What a client writes to ask whether the notifier is alive, and what it answers. */
export const PING_LINE = 'PING\n';
export const PONG_LINE = 'PONG\n';
/** A client sends nothing longer than PING: lines on stdin are read with this bound. */
export const MAX_REQUEST_LINE_BYTES = 64;

/**
 * A write of at most this many bytes to a pipe is atomic (POSIX PIPE_BUF on Linux): a reader never
 * sees part of it interleaved with anything else, and it is never left half-written.
 */
export const PIPE_BUF = 4096;

/**
 * Parses one line (without its newline; a trailing CR is tolerated). Returns undefined for anything
 * that is not a well-formed READY or CHANGED line, so a reader can warn and carry on. Never throws.
 */
export function parseNotifyLine(line: string): NotifyLine | undefined {
  if (line.endsWith('\r')) line = line.slice(0, -1);
  if (line === 'READY') return { type: 'READY' };
  if (line === 'PONG') return { type: 'PONG' };
  if (!line.startsWith('CHANGED ')) return undefined;
  const shas = line.slice('CHANGED '.length).split(' ');
  if (!shas.every((sha) => OBJECT_ID.test(sha))) return undefined;
  return { type: 'CHANGED', shas };
}

/** True for a request line (as BoundedLines gives it, without "\n") asking for a PONG. */
export function isPing(line: string): boolean {
  return line === 'PING' || line === 'PING\r';
}

/** The READY line, with its newline. */
export function formatReady(): string {
  return 'READY\n';
}

/**
 * Formats one batch of new ref values as CHANGED lines, each with its newline. Duplicates are
 * dropped (two refs moved to the same commit need one fetch). A batch too big for one atomic pipe
 * write is split over several lines of at most PIPE_BUF bytes, so every line can be written whole.
 * Returns no lines for an empty batch: an empty CHANGED line is never sent.
 */
export function formatChanged(shas: Iterable<string>, maxLineBytes = PIPE_BUF): string[] {
  const lines: string[] = [];
  let current = '';
  for (const sha of new Set(shas)) {
    if (!OBJECT_ID.test(sha)) throw new Error(`not an object id: ${JSON.stringify(sha)}`);
    if (current && current.length + 1 + sha.length + 1 > maxLineBytes) {
      lines.push(`${current}\n`);
      current = '';
    }
    current = current ? `${current} ${sha}` : `CHANGED ${sha}`;
  }
  if (current) lines.push(`${current}\n`);
  return lines;
}
