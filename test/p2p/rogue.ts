// A hand-made peer for attacking a daemon's peer node from outside its process: its own hyperdht
// node on the test's loopback testnet and its own key, speaking the wire protocol through raw
// protomux channels, so it sends what it likes (none of the sending side's manners in wire.ts).
// It can serve a real repository (so that a daemon that fetches from it gets real answers).

import { randomBytes } from 'node:crypto';
import c from 'compact-encoding';
import DHT, { type NoiseStream } from 'hyperdht';
import type { Channel, Message } from 'protomux';
import { addressOf, keyOf } from '../../workers/p2p/address.js';
import { parseShowRules, ShownRefs } from '../../workers/p2p/shown.js';
import { serveUploadPack } from '../../workers/p2p/uploadpack.js';
import { PeerConnection } from '../../workers/p2p/wire.js';
import type { Peers } from './support.js';

/** The held link's channel as the wire module lays it out: messages by their order. */
export interface RawLink {
  channel: Channel;
  opened: Promise<void>;
  closed: Promise<void>;
  wants(refspecs: unknown): void;
  refs(refs: unknown): void;
  have(refs: unknown): void;
  notice(text: unknown): void;
  remotes(urls: unknown): void;
}

export interface Rogue {
  key: string;
  address: string;
  dht: DHT;
  /** Change notices that reached it, on any link. */
  notices: string[];
  /** The link the daemon dialled to it (when the daemon has it as a remote), once open. */
  linkedByThem: Promise<RawLink>;
  /** Dials `address` and opens the held link, as a peer node would. */
  dial(address: string): Promise<RawLink>;
  /** A bare encrypted connection to `address` (no link, no session): settles with whether it opened. */
  connect(address: string): { stream: NoiseStream; opened: Promise<boolean> };
}

export async function makeRogue(t: { after(fn: () => unknown): void }, p: Peers, options: { serve?: string; stall?: boolean; mute?: boolean } = {}): Promise<Rogue> {
  const keyPair = DHT.keyPair(randomBytes(32));
  const key = keyPair.publicKey.toString('hex');
  const dht = new DHT({ bootstrap: p.testnet.bootstrap, host: '127.0.0.1', ephemeral: false, firewalled: false });
  const notices: string[] = [];
  const streams = new Set<NoiseStream>();
  let theirLink!: (link: RawLink) => void;
  const linkedByThem = new Promise<RawLink>((resolve) => (theirLink = resolve));

  const adopt = (stream: NoiseStream) => {
    streams.add(stream);
    stream.on('error', () => {});
    stream.on('close', () => streams.delete(stream));
    // Sessions the daemon opens to fetch from us are served for real, from `options.serve`.
    // Or accepted and never answered (`stall`): a fetch from us hangs mid-session.
    if (options.stall) return new PeerConnection(stream, { session: () => {} });
    return new PeerConnection(stream, options.serve ? { session: (pipe) => void serveUploadPack(pipe, options.serve!, new ShownRefs(options.serve!, parseShowRules([]).rules), () => {}) } : {});
  };
  const server = dht.createServer({}, (stream) => {
    if (options.mute) {
      // Takes the encrypted connection and says nothing on it, ever.
      streams.add(stream);
      stream.on('error', () => {});
      stream.on('close', () => streams.delete(stream));
      return;
    }
    const conn = adopt(stream);
    conn.mux.pair({ protocol: 'grd/link/1' }, () => theirLink(rawLink(conn, notices)));
  });
  await server.listen(keyPair);
  t.after(async () => {
    for (const s of streams) s.destroy();
    await server.close().catch(() => {});
    await dht.destroy({ force: true });
  });
  return {
    key,
    address: addressOf(key),
    dht,
    notices,
    linkedByThem,
    async dial(address) {
      const conn = adopt(dht.connect(Buffer.from(keyOf(address)!, 'hex'), { keyPair }));
      const link = rawLink(conn, notices);
      await link.opened;
      return link;
    },
    connect(address) {
      const stream = dht.connect(Buffer.from(keyOf(address)!, 'hex'), { keyPair });
      streams.add(stream);
      stream.on('error', () => {});
      const opened = new Promise<boolean>((resolve) => {
        stream.once('open', () => resolve(true));
        stream.once('close', () => resolve(false));
      });
      stream.on('close', () => streams.delete(stream));
      return { stream, opened };
    },
  };
}

function rawLink(conn: PeerConnection, notices: string[]): RawLink {
  let opened!: () => void;
  let closed!: () => void;
  const openedP = new Promise<void>((resolve) => (opened = resolve));
  const closedP = new Promise<void>((resolve) => (closed = resolve));
  conn.stream.on('close', () => closed());
  const channel = conn.mux.createChannel({
    protocol: 'grd/link/1',
    handshake: c.json,
    onopen: () => opened(),
    onclose: () => closed(),
  })!;
  const messages: Message<unknown>[] = [];
  for (let i = 0; i < 5; i++) {
    messages.push(channel.addMessage({ encoding: c.json, onmessage: i === 3 ? (m) => void notices.push(String(m)) : () => {} }));
  }
  channel.open({ instance: randomBytes(8).toString('hex') });
  return {
    channel,
    opened: openedP,
    closed: closedP,
    wants: (m) => messages[0].send(m),
    refs: (m) => messages[1].send(m),
    have: (m) => messages[2].send(m),
    notice: (m) => messages[3].send(m),
    remotes: (m) => messages[4].send(m),
  };
}
