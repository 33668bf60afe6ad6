// The protocol v2 `ls-refs` exchange (gitprotocol-v2): the request we send, and a streaming parser
// of the answer that rejects anything else at the first byte that gives it away, so a garbage or
// endless answer costs one packet of memory, not the whole body.

import { OBJECT_ID } from '../../shared/kit/objectid.js';
import type { RefMap } from '../../shared/transport.js';
import { DELIM, FLUSH, packetText, pktLine, PktLineError, PktReader } from './pktline.js';

/** The body of an `ls-refs` command asking only for refs under `prefixes`. */
export function lsRefsRequest(prefixes: readonly string[]): Buffer {
  return Buffer.concat([
    pktLine('command=ls-refs\n'),
    pktLine('agent=git-remote-daemon\n'),
    DELIM,
    ...prefixes.map((prefix) => pktLine(`ref-prefix ${prefix}\n`)),
    FLUSH,
  ]);
}

/** The server answered, but not in protocol v2 (a v0 advertisement, an ERR, a web page): let git try. */
export class NotV2Error extends Error {
  override name = 'NotV2Error';
}

/** The answer broke the protocol: not a pkt-line stream, a malformed ref line, cut short. */
export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

export class LsRefsParser {
  private readonly reader = new PktReader();
  private readonly refs: RefMap = new Map();
  private first = true;
  private flushed = false;

  /** Feeds the next piece of the answer; throws as soon as it cannot be a valid one. */
  push(chunk: Buffer): void {
    let packets;
    try {
      packets = this.reader.push(chunk);
    } catch (err) {
      // Not even a v0 server sends this: no point asking git to try.
      throw new ProtocolError(`the answer is not a git protocol stream (${(err as PktLineError).message})`);
    }
    for (const packet of packets) {
      if (this.flushed) throw new ProtocolError('data after the end of the ref list');
      const first = this.first;
      this.first = false;
      if (packet.kind === 'flush') {
        this.flushed = true;
        continue;
      }
      if (packet.kind !== 'data') throw new ProtocolError(`unexpected ${packet.kind} packet in the ref list`);
      const line = packetText(packet.payload);
      if (line.startsWith('ERR ')) throw new NotV2Error(`the server said: ${line.slice(4, 200)}`);
      if (first && (line.includes('\0') || line.startsWith('# service=') || line.startsWith('version '))) {
        throw new NotV2Error('the server answered with a protocol v0/v1 advertisement');
      }
      this.addRef(line, first);
    }
  }

  /** True once the closing flush arrived (over git://, the server then waits for another command). */
  get complete(): boolean {
    return this.flushed;
  }

  /** The end of the answer: the ref list, or why it is not one. */
  finish(): RefMap {
    if (this.first) throw new NotV2Error('the server sent an empty answer');
    if (!this.flushed || this.reader.buffered > 0) throw new ProtocolError('the ref list was cut short');
    return this.refs;
  }

  private addRef(line: string, first: boolean): void {
    // `<oid> <refname>[ symref-target:...][ peeled:...]`; we ask for neither attribute.
    const space = line.indexOf(' ');
    const oid = space > 0 ? line.slice(0, space) : '';
    const rest = space > 0 ? line.slice(space + 1) : '';
    const name = rest.split(' ', 1)[0];
    if (!OBJECT_ID.test(oid) || name === '') {
      const error = `not a ref line: ${JSON.stringify(line.slice(0, 120))}`;
      throw first ? new NotV2Error(error) : new ProtocolError(error);
    }
    this.refs.set(name, oid);
  }
}
