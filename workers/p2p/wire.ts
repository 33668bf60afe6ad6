// What travels on one encrypted peer connection, as protomux channels: one `grd/link/1` channel
// on a held link (our wants, offers, what we hold, change notices, our remotes' URLs) and one `grd/git/1` channel per git session (a byte
// stream, see channelstream.ts). A stand-alone `git fetch` opens only git channels, so it never counts as
// the held link. Everything a peer sends is checked here before anyone acts on it.

import { randomBytes } from 'node:crypto';
import c from 'compact-encoding';
import Protomux, { type Channel, type Message } from 'protomux';
import type { NoiseStream } from 'hyperdht';
import { OBJECT_ID } from '../../shared/kit/objectid.js';
import { MAX_NOTICE_BYTES } from '../notice/format.js';
import { channelStream, type ChannelStream } from './channelstream.js';
import { advertisable, MAX_NAME } from './refnames.js';

const LINK = 'grd/link/1';
const GIT = 'grd/git/1';

/** Bounds on what a peer may tell us in one message. */
export const MAX_REFS_PER_NOTICE = 10_000;
export const MAX_REFSPECS = 256;
/** URLs of its remotes a peer may declare (what decides which change notices it hears). */
export const MAX_REMOTE_URLS = 256;
/**
 * Bytes of one message on the held link, checked before it is parsed: a peer cannot make us parse
 * (and hold) ten megabytes of JSON at a time. A list longer than this goes in several messages.
 */
export const MAX_LINK_MESSAGE = 1 << 20;
/** What a message over MAX_LINK_MESSAGE decodes to: refused by its handler, never parsed. */
const TOO_LARGE = Symbol('too large');

/** JSON, refused unparsed when longer than `max` bytes. */
function boundedJson(max: number) {
  return {
    preencode: c.json.preencode,
    encode: c.json.encode,
    decode(state: unknown): unknown {
      const s = state as { start: number; end: number };
      if (s.end - s.start > max) {
        s.start = s.end;
        return TOO_LARGE;
      }
      return c.json.decode(state);
    },
  };
}
const linkJson = boundedJson(MAX_LINK_MESSAGE);

export interface SessionRequest {
  service: 'git-upload-pack';
  /** The helper asks for protocol v2 (git does not tell connect-capable helpers to); a node serves v0 whatever it asks (uploadpack.ts). */
  v2: boolean;
}

export interface ConnectionHandlers {
  /** The held link is open on both sides. */
  linked?(): void;
  /** The peer's fetch refspecs for us: which refs it wants offered. */
  wants?(refspecs: string[]): void;
  /** Refs the peer says moved (names it may advertise, full object ids). */
  refs?(refs: [string, string][]): void;
  /** What the peer holds of our refs: its own refs that its refspecs for us write, and their values. */
  have?(refs: [string, string][]): void;
  /** A change notice for some remote both devices share (workers/notice/format.ts), still encoded. */
  notice?(text: string): void;
  /** The normalised URLs of the peer's own remotes (workers/notice/format.ts normaliseUrl). */
  remotes?(urls: string[]): void;
  /** The peer asks for a git session; the handler owns `pipe`. */
  session?(pipe: ChannelStream, request: SessionRequest): void;
  /** The peer broke the rules; the connection is closed after this. */
  violation?(why: string): void;
}

export class PeerConnection {
  readonly mux: Protomux;
  readonly key: string;
  private link:
    | { channel: Channel; wants: Message<unknown>; refs: Message<unknown>; have: Message<unknown>; notice: Message<unknown>; remotes: Message<unknown> }
    | undefined;
  /** The peer node's run (a fresh id each start): a link from a new run replaces an old one. */
  peerInstance: string | undefined;

  constructor(
    readonly stream: NoiseStream,
    private readonly handlers: ConnectionHandlers,
  ) {
    this.key = stream.remotePublicKey.toString('hex');
    this.mux = Protomux.from(stream);
    if (handlers.session) this.mux.pair({ protocol: GIT }, (id) => this.accept(id));
  }

  /** Opens the held link's channel; `linked` fires once the peer has opened it too. */
  openLink(instance: string): void {
    if (this.link) return;
    const channel = this.mux.createChannel({
      protocol: LINK,
      handshake: linkJson,
      onopen: (handshake) => {
        const peer = (handshake as { instance?: unknown } | null)?.instance;
        if (typeof peer !== 'string' || peer.length > 64) return this.violate('a malformed link handshake');
        this.peerInstance = peer;
        this.handlers.linked?.();
      },
      onclose: () => this.stream.destroy(),
    });
    if (!channel) return;
    const wants = channel.addMessage({ encoding: linkJson, onmessage: (m) => this.onWants(m) });
    const refs = channel.addMessage({ encoding: linkJson, onmessage: (m) => this.onRefs(m) });
    const have = channel.addMessage({ encoding: linkJson, onmessage: (m) => this.onHave(m) });
    const notice = channel.addMessage({ encoding: linkJson, onmessage: (m) => this.onNotice(m) });
    const remotes = channel.addMessage({ encoding: linkJson, onmessage: (m) => this.onRemotes(m) });
    this.link = { channel, wants, refs, have, notice, remotes };
    channel.open({ instance });
  }

  /** Accept a held link the peer opens (a node does; a stand-alone fetch never does). */
  acceptLinks(instance: string): void {
    this.mux.pair({ protocol: LINK }, () => this.openLink(instance));
  }

  sendWants(refspecs: string[]): void {
    this.link?.wants.send(refspecs);
  }

  sendRefs(refs: [string, string][]): void {
    for (const part of inMessages(refs)) this.link?.refs.send(part);
  }

  sendHave(refs: [string, string][]): void {
    for (const part of inMessages(refs)) this.link?.have.send(part);
  }

  /** The normalised URLs of our own remotes: the notices we want to hear. */
  sendRemotes(urls: string[]): void {
    this.link?.remotes.send(urls.slice(0, MAX_REMOTE_URLS));
  }

  sendNotice(text: string): boolean {
    if (!this.linked || text.length > MAX_NOTICE_BYTES) return false;
    this.link!.notice.send(text);
    return true;
  }

  get linked(): boolean {
    return this.link?.channel.opened === true && !this.link.channel.closed;
  }

  /** A git session to the peer: resolves once the peer accepted it. */
  openSession(request: SessionRequest): Promise<ChannelStream> {
    return new Promise((resolve, reject) => {
      let pipe: ChannelStream | undefined;
      const channel = this.mux.createChannel({
        protocol: GIT,
        id: randomBytes(16),
        handshake: c.json,
        onopen: () => resolve(pipe!),
        onclose: () => {
          pipe?.channelClosed();
          reject(new Error('the peer refused the git session'));
        },
      });
      if (!channel) return reject(new Error('cannot open a session on this connection'));
      pipe = channelStream(channel);
      channel.open(request);
    });
  }

  close(): void {
    this.stream.destroy();
  }

  private accept(id: Buffer | null): void {
    let pipe: ChannelStream | undefined;
    const channel = this.mux.createChannel({
      protocol: GIT,
      id,
      handshake: c.json,
      onopen: (handshake) => {
        const request = parseRequest(handshake);
        if (!request) return pipe!.fail('not a git-upload-pack session request: peers serve fetches only');
        this.handlers.session!(pipe!, request);
      },
      onclose: () => pipe?.channelClosed(),
    });
    if (!channel) return;
    pipe = channelStream(channel);
    channel.open({ ok: true });
  }

  private onWants(message: unknown): void {
    if (message === TOO_LARGE || !Array.isArray(message) || message.length > MAX_REFSPECS || !message.every((s) => typeof s === 'string' && s.length <= MAX_NAME)) {
      return this.violate('a malformed list of wanted refs');
    }
    this.handlers.wants?.(message as string[]);
  }

  private onRemotes(message: unknown): void {
    if (!Array.isArray(message) || message.length > MAX_REMOTE_URLS || !message.every((s) => typeof s === 'string' && s.length <= MAX_NAME)) {
      return this.violate('a malformed or oversized list of its remotes');
    }
    this.handlers.remotes?.(message as string[]);
  }

  private onRefs(message: unknown): void {
    const refs = this.refPairs(message, advertisable, 'a malformed or oversized change notice', 'a change notice with a ref we would not advertise or a malformed object id');
    if (refs) this.handlers.refs?.(refs);
  }

  private onHave(message: unknown): void {
    const refs = this.refPairs(message, refName, 'a malformed or oversized list of refs it has', 'a list of refs it has with a malformed name or object id');
    if (refs) this.handlers.have?.(refs);
  }

  /** `[ref, id]` pairs, at most MAX_REFS_PER_NOTICE, each name passing `named`; else a violation. */
  private refPairs(message: unknown, named: (ref: unknown) => boolean, oversized: string, malformed: string): [string, string][] | undefined {
    if (message === TOO_LARGE || !Array.isArray(message) || message.length > MAX_REFS_PER_NOTICE) return void this.violate(oversized);
    for (const entry of message) {
      if (!Array.isArray(entry) || entry.length !== 2 || !named(entry[0]) || typeof entry[1] !== 'string' || !OBJECT_ID.test(entry[1])) {
        return void this.violate(malformed);
      }
    }
    return message as [string, string][];
  }

  private onNotice(message: unknown): void {
    // Only its size is checked here: the notice hub decodes it strictly and trusts none of it.
    if (typeof message !== 'string' || message.length > MAX_NOTICE_BYTES) return this.violate('an oversized or malformed change notice for a shared remote');
    this.handlers.notice?.(message);
  }

  private violate(why: string): void {
    this.handlers.violation?.(why);
    this.close();
  }
}

/** `[ref, id]` pairs cut into messages of at most MAX_REFS_PER_NOTICE pairs and MAX_LINK_MESSAGE bytes. */
function inMessages(refs: [string, string][]): [string, string][][] {
  const parts: [string, string][][] = [];
  let part: [string, string][] = [];
  let bytes = 2;
  for (const pair of refs) {
    // JSON of one pair: its two strings (names are ASCII-ish; escapes at most double them) and `["","",],`.
    const size = 2 * pair[0].length + pair[1].length + 8;
    if (part.length && (part.length >= MAX_REFS_PER_NOTICE || bytes + size > MAX_LINK_MESSAGE - 64)) {
      parts.push(part);
      part = [];
      bytes = 2;
    }
    part.push(pair);
    bytes += size;
  }
  if (part.length) parts.push(part);
  return parts;
}

function parseRequest(handshake: unknown): SessionRequest | undefined {
  if (typeof handshake !== 'object' || handshake === null) return undefined;
  const { service, v2 } = handshake as Record<string, unknown>;
  if (service !== 'git-upload-pack') return undefined;
  return { service, v2: v2 === true };
}

/** A plausible full ref name (the peer's own refs: we only compare them, never act on them). */
function refName(ref: unknown): ref is string {
  return typeof ref === 'string' && ref.length <= MAX_NAME && /^refs\/[^\0-\x1f\x7f]+$/.test(ref);
}
