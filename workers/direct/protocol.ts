// The client side of protocol v2 (gitprotocol-v2) on one upload-pack: its capabilities, `ls-refs`,
// then one `fetch` (want/have/done) whose pack is handed on as it arrives. Only what the direct
// path asks for: no shallow, no filter, no want-ref, no packfile-uris, so an answer with any of
// those is not one we asked for and ends the fetch.
//
// What a server can make us hold: one packet (git's limit, 64 KiB) at a time, at most QUEUED of
// them before the channel is paused, and a ref list of at most MAX_REF_LIST_BYTES.

import { LsRefsParser, lsRefsRequest } from '../wire/lsrefs.js';
import { DELIM, FLUSH, packetText, pktLine, PktLineError, PktReader, type Packet } from '../wire/pktline.js';
import type { RefMap } from '../../shared/transport.js';

/** What the direct path needs of a channel to a running `git-upload-pack` (an ssh2 channel is one). */
export interface WireChannel {
  write(data: Buffer): unknown;
  on(event: 'data', fn: (chunk: Buffer) => void): unknown;
  once(event: 'close', fn: () => void): unknown;
  pause(): unknown;
  resume(): unknown;
  close(): unknown;
  readonly stderr?: { on(event: 'data', fn: (chunk: Buffer) => void): unknown };
}

/** As the ssh listing's bound (workers/ssh/listrefs.ts): no sane ref list is bigger. */
export const MAX_REF_LIST_BYTES = 32 * 1024 * 1024;
/** Packets read ahead before the channel is paused: a pack is written on as fast as git takes it. */
const QUEUED = 64;
/** The server's stderr kept for an error message. */
const MAX_STDERR = 4096;

/** The server broke the protocol, or said it cannot serve us: nothing it sent is used. */
export class WireError extends Error {
  override name = 'WireError';
}

/** Where the pack goes as it arrives. */
export interface PackSink {
  /** Bytes of the pack, in order; resolves when they may be followed by more (backpressure). */
  data(chunk: Buffer): Promise<void>;
  /** A line of the server's progress (sideband 2). */
  progress(text: string): void;
}

/** What both protocol versions ask of an upload-pack: its refs, then one pack. */
export interface UploadPack {
  /** The refs under `prefixes`: name -> value. */
  refs(prefixes: readonly string[]): Promise<RefMap>;
  /** Asks for `wants` (we have `haves`) and hands the pack to `sink`; resolves once all of it went. */
  fetch(wants: readonly string[], haves: readonly string[], sink: PackSink): Promise<void>;
  close(): void;
  received: number;
}

/** Packets off a channel to upload-pack, read one at a time, the channel paused while many wait. */
class PacketStream {
  private readonly reader = new PktReader();
  private readonly queue: Packet[] = [];
  private wake: (() => void) | undefined;
  private ended: Error | undefined;
  private paused = false;
  private stderr = '';
  /** Bytes received, for the caller's stall timer. */
  received = 0;

  /** `early`: what the channel said before it was handed over (a standby's capability advertisement). */
  constructor(
    protected readonly channel: WireChannel,
    early: Buffer[] = [],
    private readonly onData: () => void = () => {},
  ) {
    for (const chunk of early) this.push(chunk);
    channel.on('data', (chunk) => this.push(chunk));
    channel.stderr?.on('data', (chunk) => {
      if (this.stderr.length < MAX_STDERR) this.stderr += chunk.toString('utf8');
    });
    channel.once('close', () => this.end(new WireError(`upload-pack ended${this.stderr.trim() ? `: ${this.stderr.trim().slice(0, 300)}` : ''}`)));
  }

  /** The pack off sideband 1 until the closing flush; progress and errors off bands 2 and 3. */
  protected async readPack(sink: PackSink, first?: Packet): Promise<void> {
    for (let p = first ?? (await this.next()); ; p = await this.next()) {
      if (p.kind === 'flush') return;
      if (p.kind !== 'data' || p.payload.length === 0) throw new WireError(`unexpected ${p.kind} packet in the pack`);
      const band = p.payload[0];
      const body = p.payload.subarray(1);
      if (band === 1) await sink.data(body);
      else if (band === 2) for (const line of body.toString('utf8').split(/[\r\n]+/)) line && sink.progress(line);
      else if (band === 3) throw new WireError(`the server: ${body.toString('utf8').trim().slice(0, 300)}`);
      else throw new WireError(`sideband ${band} is not one of git's`);
    }
  }

  /** Ends the conversation: the channel closes, upload-pack exits. */
  close(): void {
    this.end(new WireError('closed'));
    this.channel.close();
  }

  private push(chunk: Buffer): void {
    if (this.ended) return;
    this.received += chunk.length;
    this.onData();
    try {
      this.queue.push(...this.reader.push(chunk));
    } catch (err) {
      return this.end(new WireError((err as PktLineError).message));
    }
    if (this.queue.length >= QUEUED && !this.paused) {
      this.paused = true;
      this.channel.pause();
    }
    this.wake?.();
  }

  private end(err: Error): void {
    this.ended ??= err;
    this.wake?.();
  }

  protected async next(): Promise<Packet> {
    for (;;) {
      const p = this.queue.shift();
      if (p) {
        if (this.paused && this.queue.length < QUEUED / 2) {
          this.paused = false;
          this.channel.resume();
        }
        return p;
      }
      if (this.ended) throw this.ended;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }
}

/** Protocol v2 (ssh with GIT_PROTOCOL=version=2): capabilities, `ls-refs`, `fetch`. */
export class UploadPackV2 extends PacketStream implements UploadPack {
  private caps: Promise<Set<string>> | undefined;

  /** The refs under `prefixes`, after the capabilities. */
  async refs(prefixes: readonly string[]): Promise<RefMap> {
    await this.capabilities();
    return this.lsRefs(prefixes);
  }

  /** Reads the capability advertisement (once): a v2 server that serves ls-refs and fetch, in SHA-1. */
  capabilities(): Promise<Set<string>> {
    this.caps ??= this.readCapabilities();
    return this.caps;
  }

  private async readCapabilities(): Promise<Set<string>> {
    const first = await this.next();
    if (first.kind !== 'data' || packetText(first.payload) !== 'version 2') throw new WireError('the server does not speak protocol v2 here');
    const caps = new Set<string>();
    for (;;) {
      const p = await this.next();
      if (p.kind === 'flush') break;
      if (p.kind !== 'data') throw new WireError(`unexpected ${p.kind} packet in the capabilities`);
      caps.add(packetText(p.payload));
    }
    const names = new Set([...caps].map((c) => c.split('=', 1)[0]));
    if (!names.has('ls-refs') || !names.has('fetch')) throw new WireError('the server offers no ls-refs or fetch');
    const format = [...caps].find((c) => c.startsWith('object-format='));
    if (format !== undefined && format !== 'object-format=sha1') throw new WireError(`the server's ${format} is not ours`);
    return caps;
  }

  /** `ls-refs` for refs under `prefixes`: name -> value. */
  async lsRefs(prefixes: readonly string[]): Promise<RefMap> {
    this.channel.write(lsRefsRequest(prefixes));
    const parser = new LsRefsParser();
    let bytes = 0;
    for (;;) {
      const p = await this.next();
      if (p.kind === 'data') {
        bytes += p.payload.length + 4;
        if (bytes > MAX_REF_LIST_BYTES) throw new WireError('ref list too large');
        parser.push(pktLine(p.payload));
        continue;
      }
      if (p.kind !== 'flush') throw new WireError(`unexpected ${p.kind} packet in the ref list`);
      parser.push(FLUSH);
      return parser.finish();
    }
  }

  /** `fetch` with `done`: the pack goes to `sink` as it arrives; resolves once all of it went. */
  async fetch(wants: readonly string[], haves: readonly string[], sink: PackSink): Promise<void> {
    this.channel.write(
      Buffer.concat([
        pktLine('command=fetch\n'),
        pktLine('agent=git-remote-daemon\n'),
        DELIM,
        pktLine('thin-pack\n'),
        pktLine('ofs-delta\n'),
        ...wants.map((w) => pktLine(`want ${w}\n`)),
        ...haves.map((h) => pktLine(`have ${h}\n`)),
        pktLine('done\n'),
        FLUSH,
      ]),
    );
    const header = await this.next();
    if (header.kind !== 'data' || packetText(header.payload) !== 'packfile') {
      throw new WireError(`expected the packfile section, got ${header.kind === 'data' ? JSON.stringify(packetText(header.payload).slice(0, 80)) : `a ${header.kind} packet`}`);
    }
    return this.readPack(sink);
  }
}

/**
 * Protocol v0 (what a peer's node serves, workers/p2p/uploadpack.ts): the refs come first, with the
 * capabilities after a NUL on the first line; then wants (capabilities on the first), haves, done;
 * one ACK or NAK; then the pack. Without multi_ack: the server acknowledges the first common have
 * once, and says NAK at `done` only when there was none.
 */
export class UploadPackV0 extends PacketStream implements UploadPack {
  private advertised: Promise<{ refs: RefMap; caps: Set<string> }> | undefined;
  /** The advertisement once read: fetch() then writes its request in the same turn it is called. */
  private read: { refs: RefMap; caps: Set<string> } | undefined;
  private bytes = 0;

  async refs(prefixes: readonly string[]): Promise<RefMap> {
    const { refs } = await this.advertisement();
    return new Map([...refs].filter(([ref]) => prefixes.some((p) => ref.startsWith(p))));
  }

  /** The ref advertisement (read once): refs without their peeled `^{}` lines, and the capabilities. */
  advertisement(): Promise<{ refs: RefMap; caps: Set<string> }> {
    this.advertised ??= this.readAdvertisement();
    return this.advertised;
  }

  private async readAdvertisement(): Promise<{ refs: RefMap; caps: Set<string> }> {
    const refs: RefMap = new Map();
    let caps: Set<string> | undefined;
    for (;;) {
      const p = await this.next();
      if (p.kind === 'flush') break;
      if (p.kind !== 'data') throw new WireError(`unexpected ${p.kind} packet in the ref advertisement`);
      this.bytes += p.payload.length + 4;
      if (this.bytes > MAX_REF_LIST_BYTES) throw new WireError('ref list too large');
      let line = packetText(p.payload);
      if (caps === undefined) {
        if (line.startsWith('ERR ')) throw new WireError(`the server said: ${line.slice(4, 200)}`);
        if (line.startsWith('version ')) throw new WireError(`the server speaks ${line}, not v0`);
        const nul = line.indexOf('\0');
        if (nul < 0) throw new WireError('the first ref line carries no capabilities');
        caps = new Set(line.slice(nul + 1).split(' ').filter(Boolean));
        line = line.slice(0, nul);
      }
      const m = /^([0-9a-f]{40}) (\S+)$/.exec(line);
      if (!m) throw new WireError(`not a ref line: ${JSON.stringify(line.slice(0, 120))}`);
      if (m[2]!.endsWith('^{}') || m[2] === 'capabilities^{}') continue;
      refs.set(m[2]!, m[1]!);
    }
    if (caps === undefined) throw new WireError('the server sent no ref advertisement');
    if (!caps.has('side-band-64k')) throw new WireError('the server offers no side-band-64k');
    const format = [...caps].find((c) => c.startsWith('object-format='));
    if (format !== undefined && format !== 'object-format=sha1') throw new WireError(`the server's ${format} is not ours`);
    this.read = { refs, caps };
    return this.read;
  }

  async fetch(wants: readonly string[], haves: readonly string[], sink: PackSink): Promise<void> {
    const { caps } = this.read ?? (await this.advertisement());
    const asked = ['side-band-64k', 'thin-pack', 'ofs-delta'].filter((c) => caps.has(c));
    if ([...caps].some((c) => c.startsWith('agent='))) asked.push('agent=git-remote-daemon');
    this.channel.write(
      Buffer.concat([
        ...wants.map((w, i) => pktLine(i === 0 ? `want ${w} ${asked.join(' ')}\n` : `want ${w}\n`)),
        FLUSH,
        ...haves.map((h) => pktLine(`have ${h}\n`)),
        pktLine('done\n'),
      ]),
    );
    // At most one ACK (the first common have), then NAK only if there was none: either way, then the pack.
    for (;;) {
      const p = await this.next();
      const line = p.kind === 'data' ? packetText(p.payload) : '';
      if (/^ACK [0-9a-f]{40}$/.test(line)) continue;
      if (line === 'NAK') break;
      if (p.kind === 'data' && [1, 2, 3].includes(p.payload[0]!)) {
        // The pack began right after an ACK: this packet is its first.
        return this.readPack(sink, p);
      }
      throw new WireError(`expected ACK or NAK, got ${p.kind === 'data' ? JSON.stringify(line.slice(0, 80)) : `a ${p.kind} packet`}`);
    }
    return this.readPack(sink);
  }

  /** Nothing wanted after all: a flush instead of wants ends the conversation cleanly. */
  nothing(): void {
    this.channel.write(FLUSH);
  }
}
