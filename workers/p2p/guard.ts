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
import { OBJECT_ID } from '../../src/kit/objectid.js';
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

  /** Appends `chunk`; returns the complete pkts and what follows the first `stopAfterFlush` flush. */
  push(chunk: Buffer, onPkt: (pkt: Pkt) => boolean): Buffer | undefined {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    while (this.buffer.length >= 4) {
      const head = this.buffer.subarray(0, 4).toString('latin1');
      if (!/^[0-9a-f]{4}$/.test(head)) throw new Error('a malformed pkt-line');
      const length = parseInt(head, 16);
      if (length === 0) {
        this.buffer = this.buffer.subarray(4);
        if (onPkt({ kind: 'flush' })) return this.take();
        continue;
      }
      if (length < 4 || length > MAX_PKT) throw new Error(`a pkt-line of length ${length}`);
      if (this.buffer.length < length) break;
      const body = this.buffer.subarray(4, length);
      this.buffer = this.buffer.subarray(length);
      if (onPkt({ kind: 'data', body })) return this.take();
    }
    return undefined;
  }

  private take(): Buffer {
    const rest = this.buffer;
    this.buffer = Buffer.alloc(0);
    return rest;
  }
}

function pkt(text: string | Buffer): Buffer {
  const body = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  return Buffer.concat([Buffer.from((body.length + 4).toString(16).padStart(4, '0'), 'latin1'), body]);
}

const FLUSH = Buffer.from('0000', 'latin1');

/**
 * upload-pack's output → the peer: the advertisement (up to its flush) filtered to what is shown,
 * then everything else as it comes.
 */
export function advertisementFilter(shown: Shown): Transform {
  const reader = new PktReader();
  let passing = false;
  let capabilities: string | undefined;
  let first = true;
  let kept: string | undefined; // the last ref kept: its peeled line follows it
  let anyKept = false;
  const capsFor = (caps: string) =>
    caps
      .split(' ')
      .filter((cap) => !cap.startsWith('symref=') || (shown.head !== undefined && cap === `symref=HEAD:${shown.head}`))
      .join(' ');
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      if (passing) return done(null, chunk);
      try {
        const rest = reader.push(chunk, (p) => {
          if (p.kind === 'flush') {
            if (!anyKept && capabilities !== undefined) {
              this.push(pkt(`${'0'.repeat(40)} capabilities^{}\0${capabilities}\n`));
            }
            this.push(FLUSH);
            return (passing = true);
          }
          const line = p.body.toString('utf8');
          if (first && line.startsWith('ERR ')) {
            this.push(pkt(p.body)); // upload-pack's own refusal: the peer may read it
            return (passing = true);
          }
          const nul = line.indexOf('\0');
          if (first) capabilities = nul >= 0 ? capsFor(line.slice(nul + 1).replace(/\n$/, '')) : '';
          first = false;
          const [id, name] = (nul >= 0 ? line.slice(0, nul) : line.replace(/\n$/, '')).split(' ');
          if (!OBJECT_ID.test(id ?? '') || !name) throw new Error('an advertisement line it cannot read');
          let keep: boolean;
          if (name.endsWith('^{}')) keep = kept !== undefined && name === `${kept}^{}`;
          else {
            keep = name !== 'capabilities^{}' && shown.refs.get(name) === id;
            kept = keep ? name : undefined;
          }
          if (!keep) return false;
          this.push(pkt(anyKept ? `${id} ${name}\n` : `${id} ${name}\0${capabilities ?? ''}\n`));
          anyKept = true;
          return false;
        });
        done(null, rest && rest.length ? rest : undefined);
      } catch (err) {
        done(new Error(`upload-pack sent ${(err as Error).message}`));
      }
    },
  });
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
export function requestFilter(shown: Shown, checks: RequestChecks): Transform {
  const reader = new PktReader();
  const limit = REQUEST_SLACK + 128 * shown.refs.size;
  let passing = false;
  let held = 0;
  const lines: string[] = [];
  const shallow: string[] = [];
  const check = (line: string): void => {
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
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      if (passing) return done(null, chunk);
      let rest: Buffer | undefined;
      try {
        held += chunk.length;
        if (held > limit) throw new Refused('an oversized request');
        rest = reader.push(chunk, (p) => {
          if (p.kind === 'flush') return true;
          check(p.body.toString('utf8').replace(/\n$/, ''));
          return false;
        });
      } catch (err) {
        return done(err instanceof Refused ? err : new Refused(`${(err as Error).message}`));
      }
      if (rest === undefined) return done();
      passing = true;
      void allowedShallow(shallow, shown, checks).then(
        (keep) => {
          for (const line of lines) this.push(pkt(`${line}\n`));
          for (const id of keep) this.push(pkt(`shallow ${id}\n`));
          this.push(FLUSH);
          done(null, rest.length ? rest : undefined);
        },
        (err: Error) => done(new Refused(`cannot check its shallow commits: ${err.message}`)),
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
