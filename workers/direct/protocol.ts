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

export class UploadPackV2 {
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
    private readonly channel: WireChannel,
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

  /** Reads the capability advertisement: a v2 server that serves ls-refs and fetch, in SHA-1. */
  async capabilities(): Promise<Set<string>> {
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
    for (;;) {
      const p = await this.next();
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

  private async next(): Promise<Packet> {
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
