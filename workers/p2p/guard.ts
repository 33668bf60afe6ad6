// Holds a peer to what it is shown (shown.ts), in the two places of a protocol v0 upload-pack
// session where that matters: the ref advertisement going out and the request coming in (the
// first section: want, shallow, deepen lines up to a flush). Everything after that (have/done,
// the pack) passes untouched: it can only narrow what is sent.
//
// upload-pack itself already refuses wants that are no advertised tip (v0, no allow*SHA1InWant),
// but it advertises every branch and tag; and it trusts `shallow` lines: a `shallow <id>` with an
// infinite `deepen` makes it send the parents of <id>, whatever <id> is (measured with git 2.39:
// the tree and files of a commit reachable only from a hidden ref came back). So the guard:
// - advertises only shown refs at their shown values (and HEAD's symref only to a shown branch);
// - refuses a want that is not the value of a shown ref, and any line it does not know;
// - drops a `shallow` line for a commit not reachable from a shown branch;
// - refuses a `deepen-not` that does not name a shown ref.

import { Transform, type TransformCallback } from 'node:stream';
import { OBJECT_ID } from '../../shared/kit/objectid.js';
import type { Shown } from './shown.js';

/** git's largest pkt-line. */
const MAX_PKT = 65520;
/** Bound on the request's first section beyond one want line per shown ref. */
const REQUEST_SLACK = 1 << 20;
const MAX_SHALLOW = 10_000;

type Pkt = { kind: 'flush' } | { kind: 'data'; body: Buffer };

/** Splits a byte stream into pkt-lines; holds at most one partial pkt. */
class PktReader {
  private buffer: Buffer = Buffer.alloc(0);

  /** Appends `chunk`, hands each complete pkt to `onPkt`; once it returns true, returns what follows. */
  push(chunk: Buffer, onPkt: (pkt: Pkt) => boolean): Buffer | undefined {
    const buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    let at = 0;
    let stopped = false;
    while (buffer.length - at >= 4) {
      const length = hex4(buffer, at);
      if (length < 0) throw new Error('a malformed pkt-line');
      if (length === 0) {
        at += 4;
        if ((stopped = onPkt({ kind: 'flush' }))) break;
        continue;
      }
      if (length < 4 || length > MAX_PKT) throw new Error(`a pkt-line of length ${length}`);
      if (buffer.length - at < length) break;
      const body = buffer.subarray(at + 4, at + length);
      at += length;
      if ((stopped = onPkt({ kind: 'data', body }))) break;
    }
    const rest = buffer.subarray(at);
    if (stopped) {
      this.buffer = Buffer.alloc(0);
      return rest;
    }
    this.buffer = Buffer.from(rest); // a copy: the chunk it came from can go
    return undefined;
  }
}

/** The 4 hex digits of a pkt-line's length at `at`, or -1. */
function hex4(buffer: Buffer, at: number): number {
  let n = 0;
  for (let i = at; i < at + 4; i++) {
    const c = buffer[i];
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : -1;
    if (d < 0) return -1;
    n = n * 16 + d;
  }
  return n;
}

function pkt(text: string | Buffer): Buffer {
  const body = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  return Buffer.concat([Buffer.from((body.length + 4).toString(16).padStart(4, '0'), 'latin1'), body]);
}

/** Many pkt-lines as one buffer, built as one string (an advertisement has thousands). */
function pkts(lines: string[]): Buffer {
  return Buffer.from(lines.map((line) => `${(Buffer.byteLength(line) + 4).toString(16).padStart(4, '0')}${line}`).join(''), 'utf8');
}

const FLUSH = Buffer.from('0000', 'latin1');

/** Bound on the advertisement held while deciding (upload-pack's, so ours: a sanity bound). */
const MAX_ADVERTISEMENT = 64 << 20;

/** Decides the shown set from what upload-pack advertises: its branches and tags, where HEAD points. */
export type Decide = (listing: Map<string, string>, head: string | undefined) => Promise<Shown>;

/**
 * upload-pack's output → the peer: the advertisement is held whole (it is the snapshot of refs
 * this session serves), the shown set decided from it, and only that passed on; then everything
 * else as it comes. `shown` resolves with the set the request is held to.
 */
export function advertisementFilter(decide: Decide): { filter: Transform; shown: Promise<Shown> } {
  const reader = new PktReader();
  let passing = false;
  let held = 0;
  const lines: { id: string; name: string }[] = [];
  let capabilities: string | undefined;
  let settle!: { resolve(shown: Shown): void; reject(err: Error): void };
  const shown = new Promise<Shown>((resolve, reject) => (settle = { resolve, reject }));
  shown.catch(() => {});
  const filter = new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      if (passing) return done(null, chunk);
      let rest: Buffer | undefined;
      let refused: Buffer | undefined;
      try {
        held += chunk.length;
        if (held > MAX_ADVERTISEMENT) throw new Error('an oversized advertisement');
        rest = reader.push(chunk, (p) => {
          if (p.kind === 'flush') return true;
          const line = p.body.toString('utf8');
          if (capabilities === undefined && line.startsWith('ERR ')) {
            refused = pkt(p.body); // upload-pack's own refusal: the peer may read it
            return true;
          }
          const nul = line.indexOf('\0');
          if (capabilities === undefined) capabilities = nul >= 0 ? line.slice(nul + 1).replace(/\n$/, '') : '';
          const [id, name] = (nul >= 0 ? line.slice(0, nul) : line.replace(/\n$/, '')).split(' ');
          if (!OBJECT_ID.test(id ?? '') || !name) throw new Error('an advertisement line it cannot read');
          lines.push({ id, name });
          return false;
        });
      } catch (err) {
        settle.reject(err as Error);
        return done(new Error(`upload-pack sent ${(err as Error).message}`));
      }
      if (rest === undefined) return done();
      passing = true;
      if (refused) {
        settle.reject(new Error('upload-pack refused'));
        return done(null, Buffer.concat([refused, rest]));
      }
      const caps = (capabilities ?? '').split(' ');
      const head = caps.find((c) => c.startsWith('symref=HEAD:'))?.slice('symref=HEAD:'.length);
      const listing = new Map(lines.filter((l) => /^refs\/(heads|tags)\//.test(l.name) && !l.name.endsWith('^{}')).map((l) => [l.name, l.id]));
      decide(listing, head).then(
        (decided) => {
          settle.resolve(decided);
          done(null, Buffer.concat([advertise(decided, lines, caps), rest]));
        },
        (err: Error) => {
          settle.reject(err);
          done(new Error(`cannot decide what peers are shown: ${err.message}`));
        },
      );
    },
  });
  return { filter, shown };
}

/** The advertisement of what is shown, in upload-pack's order, its capabilities on the first line. */
function advertise(shown: Shown, lines: { id: string; name: string }[], caps: string[]): Buffer {
  const capabilities = caps.filter((cap) => !cap.startsWith('symref=') || (shown.head !== undefined && cap === `symref=HEAD:${shown.head}`)).join(' ');
  const out: string[] = [];
  let kept: string | undefined; // the last ref kept: its peeled line follows it
  for (const { id, name } of lines) {
    let keep: boolean;
    if (name.endsWith('^{}')) keep = kept !== undefined && name === `${kept}^{}`;
    else {
      keep = shown.refs.get(name) === id;
      kept = keep ? name : undefined;
    }
    if (keep) out.push(out.length ? `${id} ${name}\n` : `${id} ${name}\0${capabilities}\n`);
  }
  if (out.length === 0) out.push(`${'0'.repeat(lines[0]?.id.length ?? 40)} capabilities^{}\0${capabilities}\n`);
  return Buffer.concat([pkts(out), FLUSH]);
}

/** What a peer asked for that it may not have. */
export class Refused extends Error {}

export interface RequestChecks {
  /** Of these commit ids, those reachable from `tips` (unknown ids are not). */
  reachable(ids: string[], tips: string[]): Promise<Set<string>>;
  log(text: string): void;
}

/**
 * The peer → upload-pack's input: its first section is held until its flush, checked, and passed
 * on without what it may not have; then everything else as it comes. A refusal fails the stream
 * with `Refused`, whose message is for the peer.
 */
export function requestFilter(decided: Promise<Shown>, checks: RequestChecks): Transform {
  const reader = new PktReader();
  let shown: Shown | undefined;
  let limit = 0;
  let passing = false;
  let held = 0;
  const lines: string[] = [];
  const shallow: string[] = [];
  const check = (line: string, shown: Shown): void => {
    const [word, arg = ''] = line.split(/ (.*)/s, 2);
    switch (word) {
      case 'want': {
        const id = arg.split(' ')[0];
        if (!shown.wants.has(id)) throw new Refused(`not our ref ${id.slice(0, 64)}`);
        return void lines.push(line);
      }
      case 'shallow':
        if (!OBJECT_ID.test(arg)) throw new Refused('a malformed shallow line');
        if (shallow.length >= MAX_SHALLOW) throw new Refused(`more than ${MAX_SHALLOW} shallow lines`);
        return void shallow.push(arg);
      case 'deepen':
      case 'deepen-since':
        return void lines.push(line);
      case 'deepen-not':
        // upload-pack resolves the name as git would (dwim): only a shown ref's full or short name,
        // which must then be the one it resolves to (else it is ambiguous and upload-pack says so).
        if (![arg, `refs/${arg}`, `refs/heads/${arg}`, `refs/tags/${arg}`].some((n) => n !== 'HEAD' && shown.refs.has(n))) {
          throw new Refused(`deepen-not names no ref shown to peers: ${arg.slice(0, 200)}`);
        }
        return void lines.push(line);
      default:
        throw new Refused(`${word.slice(0, 40)} is not served to peers`);
    }
  };
  const section = (chunk: Buffer, shown: Shown, done: TransformCallback) => {
    let rest: Buffer | undefined;
    try {
      held += chunk.length;
      if (held > limit) throw new Refused('an oversized request');
      rest = reader.push(chunk, (p) => {
        if (p.kind === 'flush') return true;
        check(p.body.toString('utf8').replace(/\n$/, ''), shown);
        return false;
      });
    } catch (err) {
      return done(err instanceof Refused ? err : new Refused(`${(err as Error).message}`));
    }
    if (rest === undefined) return done();
    passing = true;
    void allowedShallow(shallow, shown, checks).then(
      (keep) => {
        const out = lines.map((line) => pkt(`${line}\n`));
        for (const id of keep) out.push(pkt(`shallow ${id}\n`));
        out.push(FLUSH, rest);
        done(null, Buffer.concat(out));
      },
      (err: Error) => done(new Refused(`cannot check its shallow commits: ${err.message}`)),
    );
  };
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      if (passing) return done(null, chunk);
      if (shown) return section(chunk, shown, done);
      // The peer spoke before the advertisement was decided: its request waits for it.
      decided.then(
        (s) => {
          shown = s;
          limit = REQUEST_SLACK + 128 * s.refs.size;
          section(chunk, s, done);
        },
        () => done(new Refused('the session ended before anything was shown')),
      );
    },
    flush(done: TransformCallback) {
      done(); // a peer that hangs up mid-request gets nothing forwarded
    },
  });
}

async function allowedShallow(ids: string[], shown: Shown, checks: RequestChecks): Promise<string[]> {
  if (ids.length === 0) return [];
  const ok = shown.tips.length ? await checks.reachable([...new Set(ids)], shown.tips) : new Set<string>();
  const keep = ids.filter((id) => ok.has(id));
  if (keep.length < ids.length) checks.log(`dropped ${ids.length - keep.length} shallow line(s) for commits not reachable from what peers are shown`);
  return keep;
}
