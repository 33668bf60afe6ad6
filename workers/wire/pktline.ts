// git's pkt-line framing (gitprotocol-common): four hex digits of length (header included), then the
// payload; 0000 flush, 0001 delim, 0002 response-end. The reader keeps at most one packet in
// memory, so a server can make it hold no more than 64 KiB however much it sends; bounding the
// whole answer is the caller's job (it counts bytes as they arrive).

/** git's own limit on one packet, header included (LARGE_PACKET_MAX). */
export const MAX_PKT_LEN = 65520;

export type Packet = { kind: 'data'; payload: Buffer } | { kind: 'flush' } | { kind: 'delim' } | { kind: 'end' };

export class PktLineError extends Error {
  override name = 'PktLineError';
}

export function pktLine(text: string | Buffer): Buffer {
  const payload = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  const length = payload.length + 4;
  if (length > MAX_PKT_LEN) throw new PktLineError(`packet too long: ${length} bytes`);
  return Buffer.concat([Buffer.from(length.toString(16).padStart(4, '0'), 'ascii'), payload]);
}

export const FLUSH = Buffer.from('0000', 'ascii');
export const DELIM = Buffer.from('0001', 'ascii');

/** Splits a byte stream into packets as it arrives; throws PktLineError at the first bad header. */
export class PktReader {
  private pending: Buffer = Buffer.alloc(0);

  /** The packets completed by `chunk`, in order. */
  push(chunk: Buffer): Packet[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const packets: Packet[] = [];
    let at = 0;
    while (this.pending.length - at >= 4) {
      const length = parseLength(this.pending.subarray(at, at + 4));
      if (length === 0) packets.push({ kind: 'flush' });
      else if (length === 1) packets.push({ kind: 'delim' });
      else if (length === 2) packets.push({ kind: 'end' });
      if (length < 4) {
        at += 4;
        continue;
      }
      if (this.pending.length - at < length) break;
      packets.push({ kind: 'data', payload: Buffer.from(this.pending.subarray(at + 4, at + length)) });
      at += length;
    }
    this.pending = this.pending.subarray(at);
    return packets;
  }

  /** Bytes of an unfinished packet: non-zero at the end of the stream means it was cut short. */
  get buffered(): number {
    return this.pending.length;
  }
}

function parseLength(header: Buffer): number {
  const text = header.toString('latin1');
  if (!/^[0-9a-f]{4}$/i.test(text)) throw new PktLineError(`not a pkt-line header: ${JSON.stringify(text)}`);
  const length = parseInt(text, 16);
  if (length === 3) throw new PktLineError('pkt-line length 3 is invalid');
  if (length > MAX_PKT_LEN) throw new PktLineError(`pkt-line of ${length} bytes is over git's limit of ${MAX_PKT_LEN}`);
  return length;
}

/** A data packet's text without its trailing newline (git's packet_read with CHOMP_NEWLINE). */
export function packetText(payload: Buffer): string {
  const text = payload.toString('utf8');
  return text.endsWith('\n') ? text.slice(0, -1) : text;
}
