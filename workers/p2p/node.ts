// The peer node: a child process of the p2p endpoint (hyperdht's native addons can take a process
// down; this way they take only this one). It holds the repository's identity, one encrypted link
// per peer, serves `git upload-pack` to authorised peers, offers local ref changes, and opens
// sessions over its links for `git-remote-p2p` through a unix socket (helpersocket.ts). Talks to
// the endpoint over IPC (nodeapi.ts).

import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { Server as NetServer } from 'node:net';
import DHT, { type NoiseStream, type Server } from 'hyperdht';
import { isDeleted } from '../../shared/kit/objectid.js';
import { FetchRefspecs } from '../../shared/refs/refspec.js';
import { watchRefs, type RefWatcher } from '../../shared/refs/watcher.js';
import { fingerprint } from './address.js';
import { isUserIdentity, loadIdentity, type Identity } from './identity.js';
import type { FromNode, ToNode } from './nodeapi.js';
import { NOT_A_PEER, socketPath } from './nodeapi.js';
import { listenForHelpers } from './helpersocket.js';
import { watchReachability, type ReachWatch } from './reach.js';
import { DEFAULT_BUCKET, TokenBuckets } from '../tokenbucket.js';
import { OfferGate, type Judged } from './offers.js';
import type { ChannelStream } from './channelstream.js';
import { serveUploadPack, startUploadPack, usable, type StartedUploadPack } from './uploadpack.js';
import { mark } from '../timing.js';
import { ShownRefs } from './shown.js';
import { dhtOptions, type NodeSettings } from './settings.js';
import { PeerConnection } from './wire.js';
import { advertisable } from './refnames.js';

/** A dead peer is noticed within this long (keep-alives every KEEPALIVE_MS). */
const KEEPALIVE_MS = 2000;
/** What status says while no DHT node answers (the bootstrap nodes are unreachable). */
const DHT_UNREACHABLE = 'the DHT is unreachable: no bootstrap node answers';
const DEAD_AFTER_MS = 8000;
const DIAL_TIMEOUT_MS = 30_000;
/** Git sessions one peer may have at once, over all its connections. */
export const SESSIONS_PER_PEER = 4;
/** Refs of ours we tell a peer we hold, at most. */
const MAX_HAVE = 100_000;
/**
 * Bytes of state one peer can make us hold (the refs it says it holds, the URLs it says it has),
 * counted as their text plus a per-entry overhead: past this its link is closed with a reason.
 */
export const PEER_BUDGET_BYTES = 16 << 20;
const ENTRY_OVERHEAD = 64;
/**
 * Connections one key may have at once: the held link, a few stand-alone fetches (each its own
 * connection) and a link from the peer's restart while the old one times out. More are refused.
 */
export const CONNECTIONS_PER_KEY = 6;
/**
 * An offer passed on to our remotes opens a git session to the peer at once, while our worker
 * starts `git fetch` (~50 ms or more before it asks for one): the peer's upload-pack starts and
 * advertises meanwhile, and the fetch is handed that session. Unclaimed for this long, it is
 * closed (the offer needed no fetch: we had it already).
 */
const WARM_SESSION_MS = 2000;
/**
 * Our side of the same: offering a peer a change, we start the upload-pack that the fetch it causes
 * will be served by (a v0 advertisement is the refs when upload-pack starts, so not before the
 * change), and its session takes it. Unclaimed for this long, it is ended.
 */
const EARLY_SERVE_MS = 2000;

interface Held {
  conn: PeerConnection;
  /**
   * Values offered on this link, by where the peer stores the ref: offering the same value again
   * costs nothing until the peer says it now holds something else there.
   */
  sent: Map<string, string>;
  /** The peer's own refs that its refspecs for us write (its tracking refs of us), as it last said. */
  have: Map<string, string>;
  /** Its first list (on linking) is no news worth a log line; later ones follow its fetches. */
  haveHeard?: boolean;
  wants?: FetchRefspecs;
  /** The normalised URLs of the peer's own remotes, as it last said: notices about these only. */
  urls: Set<string>;
  /** Bytes of `have` and `urls`, against PEER_BUDGET_BYTES. */
  bytes: number;
  urlBytes: number;
  offers: OfferGate;
  /** A session opened ahead of the fetch an offer will cause; the next session asked for takes it. */
  warm?: { pipe: Promise<ChannelStream | undefined>; timer: NodeJS.Timeout };
  /** Our upload-pack, started when we offered this peer a change; the next session it opens takes it. */
  early?: { started?: StartedUploadPack; start: NodeJS.Immediate; timer: NodeJS.Timeout };
}

/** Exported for its test (test/p2p/node.test.ts), which links two of them over an in-memory stream: no DHT. */
export class PeerNode {
  private dht!: DHT;
  private server: Server | undefined;
  private identity!: Identity;
  /** Keyed by the user's identity (a clone's): no listening, see startUp. */
  private dialOnly = false;
  private settings: NodeSettings;
  private allowed: Set<string>;
  /** What peers are shown of this repository: every served session is held to it. */
  readonly shown: ShownRefs;
  private readonly conns = new Set<PeerConnection>();
  private readonly held = new Map<string, Held>();
  private readonly dialing = new Map<string, Promise<void>>();
  private readonly sessions = new Map<string, number>();
  private watcher: RefWatcher | undefined;
  private helperSocket: NetServer | undefined;
  /** Whether the DHT answers: remotes that wait on it hear the moment it does again. */
  private reach: ReachWatch | undefined;
  private readonly refused = new Map<string, number>();
  /** Offers spend tokens of the same kind of per-sender bucket as change notices. */
  private readonly offerBuckets = new TokenBuckets(DEFAULT_BUCKET);
  private readonly instance = randomUUID();
  /** Dials waiting for a link to a key to be held, whichever side dialled it. */
  private readonly waiters = new Map<string, Set<() => void>>();

  constructor(
    private readonly gitDir: string,
    settings: NodeSettings,
    private readonly say: (m: FromNode) => void,
  ) {
    this.settings = settings;
    this.allowed = new Set(settings.allowed);
    this.shown = new ShownRefs(gitDir, settings.show);
  }

  /** Dials and helpers wait for the DHT; a failed start is reported by main(), not here. */
  private started: Promise<void> = new Promise(() => {});

  start(): Promise<void> {
    this.started = this.startUp();
    this.started.catch(() => {});
    return this.started;
  }

  private async startUp(): Promise<void> {
    this.identity = await loadIdentity(this.gitDir, { create: true });
    // Watcher and socket before the server: a peer may link the moment we listen, and its remote
    // then fetches at once, through the socket, expecting offers to flow.
    this.watcher = await watchRefs({
      gitDir: this.gitDir,
      reportDeletions: true,
      onChange: (refs) => this.localChange(refs),
      onError: (err) => this.say({ type: 'condition', kind: 'watch', text: `cannot watch this repository's refs: ${err.message}` }),
    });
    const socket = socketPath(this.gitDir);
    this.helperSocket = await listenForHelpers(socket, (peer, v2, over) => this.session(peer, v2, over), this.say);
    const keyPair = DHT.keyPair(this.identity.seed);
    this.dht = new DHT({ ...dhtOptions(this.settings), keyPair });
    // A clone that kept the user's key shares it with the user's other clones: were each to
    // listen, a peer dialling that key would reach whichever answered. So it only dials out; its
    // peers' offers come back over the links it holds.
    this.dialOnly = await isUserIdentity(this.identity.publicKey);
    if (!this.dialOnly) {
      this.server = this.dht.createServer({ firewall: (key) => this.firewall(key) }, (stream) => this.adopt(stream));
      await this.server.listen(keyPair);
    }
    this.reach = watchReachability(
      this.dht,
      () => {
        this.say({ type: 'log', text: 'the DHT answers again' });
        this.say({ type: 'condition', kind: 'dht', text: null });
        this.say({ type: 'reachable' });
      },
      undefined,
      // A daemon-wide condition: while it holds, no peer can be found, whatever each remote says.
      () => this.say({ type: 'condition', kind: 'dht', text: `${DHT_UNREACHABLE} (${this.bootstrapText()}); peers cannot be found until one does` }),
    );
    if (this.reach.isolated) this.say({ type: 'log', text: 'no DHT node answers (bootstrap unreachable?): asking again until one does' });
    const how = this.dialOnly ? ', your user identity: it dials its peers and is dialled by none' : '';
    this.say({ type: 'log', text: `peer node up (pid ${process.pid}), fingerprint ${fingerprint(this.identity.publicKey)}${how}` });
    this.say({ type: 'ready', publicKey: this.identity.publicKey, socket });
  }

  /** The bootstrap nodes asked, for the condition that none answers. */
  private bootstrapText(): string {
    const nodes = this.settings.bootstrap;
    return nodes ? `bootstrap ${nodes.map((n) => `${n.host}:${n.port}`).join(', ')}` : 'hyperdht\'s public bootstrap nodes';
  }

  /** True rejects: runs before the server reveals its addresses, so strangers learn nothing. */
  private firewall(remoteKey: Buffer): boolean {
    const key = remoteKey.toString('hex');
    if (!this.allowed.has(key)) {
      this.refuse(key, `refused a connection from an unknown key (fingerprint ${fingerprint(key)})`);
      return true;
    }
    // Handshakes that pass here at once are counted again when they arrive (adopt).
    if (this.connectionsOf(key) >= CONNECTIONS_PER_KEY) {
      this.refuse(key, `refused a connection from ${fingerprint(key)}: it has ${CONNECTIONS_PER_KEY} already`);
      return true;
    }
    return false;
  }

  /** One log line per key per minute: nobody can flood the log by being refused. */
  private refuse(key: string, text: string): void {
    const now = Date.now();
    if ((this.refused.get(key) ?? 0) < now - 60_000 && this.refused.size < 1000) {
      this.refused.set(key, now);
      this.say({ type: 'log', text });
    }
  }

  private connectionsOf(key: string): number {
    let n = 0;
    for (const conn of this.conns) if (conn.key === key) n++;
    return n;
  }

  /** A peer we fetch from (one of the user's own devices), not merely one allowed to fetch from us. */
  private isOurRemote(key: string): boolean {
    return this.settings.peers.some((p) => p.key === key);
  }

  configure(settings: NodeSettings): void {
    this.settings = settings;
    this.allowed = new Set(settings.allowed);
    this.shown.configure(settings.show);
    for (const conn of this.conns) {
      if (!this.allowed.has(conn.key)) {
        this.say({ type: 'log', text: `closing the link to ${fingerprint(conn.key)}: its key is no longer allowed` });
        conn.close();
      }
    }
    for (const [key, held] of this.held) {
      held.conn.sendWants(this.wantsFor(key));
      held.conn.sendRemotes(this.settings.urls ?? []);
      void this.sendHave(held.conn);
    }
  }

  /** Tells a peer what we hold of its refs (our refs its refspecs write), so it offers only what we lack. */
  private async sendHave(conn: PeerConnection): Promise<void> {
    const mine = new FetchRefspecs(this.wantsFor(conn.key));
    try {
      const out = await gitOutput(['--git-dir', this.gitDir, 'for-each-ref', '--format=%(objectname) %(refname)']);
      const have: [string, string][] = [];
      for (const line of out.split('\n')) {
        const [sha, ref] = line.split(' ');
        if (ref && mine.isDestination(ref)) have.push([ref, sha]);
      }
      if (this.held.get(conn.key)?.conn === conn) conn.sendHave(have.slice(0, MAX_HAVE));
    } catch (err) {
      this.say({ type: 'log', text: `cannot list our refs for ${fingerprint(conn.key)}: ${(err as Error).message}` });
    }
  }

  /** Our refs moved: tell each peer about the ones that are its (our tracking refs of it), then offer ours. */
  private localChange(refs: Map<string, string>): void {
    mark('watch');
    for (const [key, held] of this.held) {
      this.dropEarly(held); // it advertises refs as they were: the offer below starts another if need be
      const mine = new FetchRefspecs(this.wantsFor(key));
      const have = [...refs].filter(([ref]) => mine.isDestination(ref));
      if (have.length) {
        held.conn.sendHave(have);
        // Our tracking refs of it moved (a fetch brought something): its refs did change.
        held.offers.refsChanged();
      }
    }
    this.offer(refs);
  }

  private wantsFor(key: string): string[] {
    return this.settings.peers.find((p) => p.key === key)?.fetch ?? [];
  }

  /** Every encrypted stream, ours or theirs: sessions may be served on any; links are held on one. */
  private adopt(stream: NoiseStream): PeerConnection {
    stream.setKeepAlive(KEEPALIVE_MS);
    stream.setTimeout(DEAD_AFTER_MS);
    const conn: PeerConnection = new PeerConnection(stream, {
      linked: () => this.linked(conn),
      wants: (refspecs) => {
        const held = this.held.get(conn.key);
        if (held?.conn === conn) held.wants = new FetchRefspecs(refspecs);
      },
      refs: (refs) => {
        const held = this.held.get(conn.key);
        if (held?.conn !== conn) return;
        mark('offer-heard');
        // Only refs we fetch from it can make us fetch: the rest is no business of ours.
        const mine = new FetchRefspecs(this.wantsFor(conn.key));
        const wanted = refs.filter(([ref]) => mine.destination(ref) !== undefined);
        if (wanted.length) held.offers.offer(wanted);
      },
      notice: (text) => {
        // Only the user's own devices (peers we fetch from) tell us about other remotes.
        if (this.held.get(conn.key)?.conn === conn && this.isOurRemote(conn.key)) this.say({ type: 'notice', key: conn.key, text });
      },
      remotes: (urls) => {
        const held = this.held.get(conn.key);
        if (held?.conn !== conn) return;
        const bytes = urls.reduce((n, url) => n + url.length + ENTRY_OVERHEAD, 0);
        if (!this.spend(held, bytes - held.urlBytes)) return;
        held.urlBytes = bytes;
        held.urls = new Set(urls);
      },
      have: (refs) => {
        const held = this.held.get(conn.key);
        if (held?.conn !== conn) return;
        const first = !held.haveHeard;
        held.haveHeard = true;
        let bytes = 0;
        for (const [ref] of refs) if (!held.have.has(ref)) bytes += ref.length + 40 + ENTRY_OVERHEAD;
        if (!this.spend(held, bytes)) return;
        for (const [ref, sha] of refs) {
          held.have.set(ref, sha);
          held.sent.delete(ref); // it holds something new there: what it lacks is worth saying again
        }
        if (!first) this.say({ type: 'log', text: `${fingerprint(conn.key)} now holds ${refs.length} of our refs at new values` });
      },
      session: (pipe) => this.serve(conn.key, pipe),
      violation: (why) => this.say({ type: 'log', text: `closing the link to ${fingerprint(conn.key)}: it sent ${why}` }),
    });
    conn.acceptLinks(this.instance);
    const over = !stream.isInitiator && this.connectionsOf(conn.key) >= CONNECTIONS_PER_KEY;
    this.conns.add(conn);
    if (over) {
      // Handshakes that all passed the firewall at once: the ones past the cap go at once.
      this.refuse(conn.key, `refused a connection from ${fingerprint(conn.key)}: it has ${CONNECTIONS_PER_KEY} already`);
      conn.close();
    } else if (!stream.isInitiator) this.say({ type: 'log', text: `accepted a connection from ${fingerprint(conn.key)}` });
    stream.on('error', () => {}); // its end is handled on close, with the reason
    stream.on('close', () => {
      this.conns.delete(conn);
      const held = this.held.get(conn.key);
      if (held?.conn !== conn) return;
      held.offers.close();
      this.coolDown(held);
      this.dropEarly(held);
      this.held.delete(conn.key);
      this.say({ type: 'down', key: conn.key, reason: 'the link to the peer was lost' });
    });
    // A revoked key (RELOAD) may still arrive on a stream dialled before: check once more.
    if (!this.allowed.has(conn.key)) conn.close();
    return conn;
  }

  /** A git session the peer `key` asked for: served, within SESSIONS_PER_PEER at once. */
  private serve(key: string, pipe: ChannelStream): void {
    const active = this.sessions.get(key) ?? 0;
    if (active >= SESSIONS_PER_PEER) return pipe.fail(`too many git sessions at once (at most ${SESSIONS_PER_PEER} per peer)`);
    this.sessions.set(key, active + 1);
    mark('serve-start');
    this.say({ type: 'log', text: `serving git-upload-pack to ${fingerprint(key)}` });
    serveUploadPack(pipe, this.gitDir, this.shown, (text) => this.say({ type: 'log', text }), this.takeEarly(key)).finally(() => {
      const n = (this.sessions.get(key) ?? 1) - 1;
      if (n > 0) this.sessions.set(key, n);
      else this.sessions.delete(key);
    });
  }

  /**
   * Both sides may dial at once and end up with two links: each side keeps the one dialled by the
   * smaller key, so both keep the same one without a word about it. A link from a new run of the
   * peer (it restarted) replaces the old one, which is dead but may not have timed out yet.
   */
  private linked(conn: PeerConnection): void {
    const current = this.held.get(conn.key);
    if (current && current.conn !== conn && current.conn.linked && current.conn.peerInstance === conn.peerInstance) {
      const dialer = (c: PeerConnection) => (c.stream.isInitiator ? this.identity.publicKey : c.key);
      if (dialer(current.conn) <= dialer(conn)) return conn.close();
      this.held.delete(conn.key); // its close must not report the new link down
      current.offers.close();
      this.dropEarly(current);
      current.conn.close();
    } else if (current && current.conn !== conn) {
      // The peer restarted: what it did while we thought it linked needs a catch-up, which the
      // remote makes on reconnecting. So: down, then up on the new link.
      this.held.delete(conn.key);
      current.offers.close();
      this.dropEarly(current);
      current.conn.close();
      this.say({ type: 'down', key: conn.key, reason: 'the peer restarted' });
    }
    const key = conn.key;
    const offers = new OfferGate({
      key,
      buckets: this.offerBuckets,
      refillMs: DEFAULT_BUCKET.refillMs,
      forward: (refs) => {
        if (this.held.get(key)?.conn !== conn) return;
        mark('offer-passed');
        this.say({ type: 'refs', key, refs });
        this.warmUp(key);
      },
      log: (text) => this.say({ type: 'log', text: `offers from ${fingerprint(key)}: ${text}` }),
    });
    this.held.set(key, { conn, sent: new Map(), have: new Map(), urls: new Set(), bytes: 0, urlBytes: 0, offers });
    conn.sendWants(this.wantsFor(conn.key));
    conn.sendRemotes(this.settings.urls ?? []);
    void this.sendHave(conn);
    this.say({ type: 'log', text: `linked to ${fingerprint(conn.key)} (${conn.stream.isInitiator ? 'we dialled' : 'it dialled'})` });
    this.say({ type: 'up', key: conn.key });
    for (const w of this.waiters.get(conn.key) ?? []) w();
  }

  /**
   * Counts `bytes` more against the peer's budget; false (and its link closed, with the reason)
   * when that is more than we hold for one peer.
   */
  private spend(held: Held, bytes: number): boolean {
    if (held.bytes + bytes > PEER_BUDGET_BYTES) {
      this.say({ type: 'log', text: `closing the link to ${fingerprint(held.conn.key)}: it sent more than the ${PEER_BUDGET_BYTES >> 20} MiB of refs and URLs we hold for a peer` });
      held.conn.close();
      return false;
    }
    held.bytes += bytes;
    return true;
  }

  /**
   * A change notice about the remote at `url` (normalised): only to peers that are our own remotes
   * (devices we fetch from) and said they have that URL as a remote too. A peer that may only
   * fetch from us hears nothing of our other remotes, whatever it claims to have.
   */
  sendNotice(text: string, url: string): void {
    for (const [key, held] of this.held) if (held.urls.has(url) && this.isOurRemote(key)) held.conn.sendNotice(text);
  }

  /** Gets the held link to `key` up, dialling once if need be; resolves when it is. */
  async ensureLink(key: string): Promise<void> {
    await this.started;
    if (this.held.get(key)?.conn.linked) return;
    if (!this.allowed.has(key)) throw new Error(NOT_A_PEER);
    let dial = this.dialing.get(key);
    if (!dial) {
      dial = this.dial(key).finally(() => this.dialing.delete(key));
      this.dialing.set(key, dial);
    }
    return dial;
  }

  private dial(key: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const stream = this.dht.connect(Buffer.from(key, 'hex'), { keyPair: DHT.keyPair(this.identity.seed) });
      const conn = this.adopt(stream);
      const timer = setTimeout(() => finish(new Error('no answer from the peer within 30 s')), DIAL_TIMEOUT_MS);
      const waiters = this.waiters.get(key) ?? new Set();
      this.waiters.set(key, waiters);
      const finish = (err?: Error) => {
        clearTimeout(timer);
        stream.off('close', onClose);
        waiters.delete(onLinked);
        if (waiters.size === 0) this.waiters.delete(key);
        if (err) {
          conn.close();
          this.reach?.check(); // a dial that found nobody because nobody answers at all
          // PEER_NOT_FOUND alone would blame the peer: say when nobody at all answers.
          reject(this.reach?.isolated ? new Error(`${err.message}: ${DHT_UNREACHABLE}`) : err);
        } else resolve();
      };
      const onClose = () => (this.held.get(key)?.conn.linked ? finish() : finish(new Error(`could not reach the peer (${lastError ?? 'connection closed'})`)));
      let lastError: string | undefined;
      stream.on('error', (err: Error) => (lastError = err.message));
      stream.on('close', onClose);
      conn.openLink(this.instance);
      // Up as soon as any link to the peer is held: ours, or the one it dialled meanwhile.
      const onLinked = () => finish();
      waiters.add(onLinked);
    });
  }

  /** Offers ref values to every linked peer that wants them and was not told them yet; how many got some. */
  offer(refs: Map<string, string>): number {
    let told = 0;
    for (const held of this.held.values()) {
      if (!held.wants) continue;
      const out: [string, string][] = [];
      for (const [ref, sha] of refs) {
        const dest = advertisable(ref) ? held.wants.destination(ref) : undefined;
        if (dest === undefined) continue; // not a ref it fetches from us
        // Where it would land; a refspec without a destination (FETCH_HEAD only) is known by our name.
        const where = dest ?? `FETCH_HEAD ${ref}`;
        const lacks = isDeleted(sha) ? held.have.has(where) && !isDeleted(held.have.get(where)!) : held.have.get(where) !== sha;
        if (!lacks || held.sent.get(where) === sha) continue;
        held.sent.set(where, sha);
        out.push([ref, sha]);
      }
      held.conn.sendRefs(out);
      if (out.length) {
        told++;
        mark('offer-sent');
        this.startEarly(held);
      }
    }
    return told;
  }

  /** CHANGED names refs; their values are read here, never taken from whoever said CHANGED. */
  async offerNamed(names: string[]): Promise<void> {
    const wanted = new Set(names.filter(advertisable).slice(0, 1000));
    if (wanted.size === 0) return;
    const out = await gitOutput(['--git-dir', this.gitDir, 'for-each-ref', '--format=%(objectname) %(refname)', ...wanted]);
    const refs = new Map<string, string>();
    for (const line of out.split('\n')) {
      const [sha, ref] = line.split(' ');
      if (ref && wanted.has(ref)) refs.set(ref, sha);
    }
    const told = this.offer(refs);
    this.say({ type: 'log', text: `CHANGED ${[...wanted].join(' ')}: offered to ${told} peer${told === 1 ? '' : 's'}` });
  }

  /**
   * Starts the upload-pack that the fetch our offer causes will be served by (see EARLY_SERVE_MS).
   * One started for an earlier offer advertises older refs: it is replaced.
   */
  private startEarly(held: Held): void {
    this.dropEarly(held);
    // Forking holds this process (~10 ms here): the offer goes out on the link first.
    const early: NonNullable<Held['early']> = {
      timer: setTimeout(() => held.early === early && this.dropEarly(held), EARLY_SERVE_MS),
      start: setImmediate(() => {
        if (held.early !== early) return;
        early.started = startUploadPack(this.gitDir);
        mark('upload-pack-early');
      }),
    };
    early.timer.unref();
    held.early = early;
  }

  /** Takes `held`'s upload-pack started ahead off it, its timers cleared: the process, if it was started. */
  private detachEarly(held: Held): StartedUploadPack | undefined {
    const early = held.early;
    if (!early) return undefined;
    held.early = undefined;
    clearTimeout(early.timer);
    clearImmediate(early.start);
    return early.started;
  }

  /** Ends the upload-pack started ahead for `held`, unused. */
  private dropEarly(held: Held): void {
    this.detachEarly(held)?.child.kill();
  }

  /** The upload-pack started ahead for `key`, if it can still serve; else undefined (and it is ended). */
  private takeEarly(key: string): StartedUploadPack | undefined {
    const held = this.held.get(key);
    const started = held && this.detachEarly(held);
    if (started && usable(started)) return started;
    started?.child.kill();
    return undefined;
  }

  /** Opens a session to `key` ahead of the fetch its offer causes (see WARM_SESSION_MS). */
  private warmUp(key: string): void {
    const held = this.held.get(key);
    if (!held || held.warm) return;
    const pipe = held.conn.openSession({ service: 'git-upload-pack', v2: true }).then(
      (p) => {
        p.on('error', () => {}); // unclaimed, nobody else listens; a claimed one is the helper's
        return p;
      },
      () => undefined, // refused (too many sessions, say): the fetch opens its own
    );
    const timer = setTimeout(() => {
      if (held.warm?.pipe !== pipe) return;
      held.warm = undefined;
      void pipe.then((p) => p?.destroy());
    }, WARM_SESSION_MS);
    timer.unref();
    held.warm = { pipe, timer };
  }

  /** Closes a session opened ahead that nobody claimed. */
  private coolDown(held: Held): void {
    const warm = held.warm;
    if (!warm) return;
    held.warm = undefined;
    clearTimeout(warm.timer);
    void warm.pipe.then((p) => p?.destroy());
  }

  /** The session opened ahead, if it is still fresh; else undefined (and it is closed). */
  private async claimWarm(held: Held, v2: boolean): Promise<ChannelStream | undefined> {
    const warm = held.warm;
    if (!warm || !v2) return undefined; // opened as v2 asks (served as v0 either way)
    held.warm = undefined;
    clearTimeout(warm.timer);
    const pipe = await warm.pipe;
    if (pipe?.fresh) return pipe;
    pipe?.destroy();
    return undefined;
  }

  /** A git session to a peer over its held link (dialled if need be), for git-remote-p2p. */
  /** `over`: the session is over on both sides (helpersocket.ts), when what it brought can be judged. */
  private async session(peer: string, v2: boolean, over: Promise<void>): Promise<ChannelStream> {
    await this.ensureLink(peer);
    const held = this.held.get(peer);
    if (!held) throw new Error('the link to the peer went away');
    const pipe = (await this.claimWarm(held, v2)) ?? (await held.conn.openSession({ service: 'git-upload-pack', v2 }));
    mark('session-open');
    // Whatever the session was (a fetch, a listing): did it bring what the peer offered before it?
    const judged = held.offers.sessionStarted();
    if (judged.size) void over.then(() => this.judge(peer, held, judged));
    return pipe;
  }

  private async judge(peer: string, held: Held, judged: Judged): Promise<void> {
    const mine = new FetchRefspecs(this.wantsFor(peer));
    const where = new Map<string, string | null>();
    for (const ref of judged.keys()) where.set(ref, mine.destination(ref) ?? null);
    const locals = [...where.values()].filter((d): d is string => d !== null);
    try {
      const out = locals.length ? await gitOutput(['--git-dir', this.gitDir, 'for-each-ref', '--format=%(objectname) %(refname)', ...locals]) : '';
      const ours = new Map<string, string>();
      for (const line of out.split('\n')) {
        const [sha, ref] = line.split(' ');
        if (ref) ours.set(ref, sha);
      }
      held.offers.sessionEnded(judged, (ref) => {
        const local = where.get(ref);
        return local === null || local === undefined ? null : ours.get(local);
      });
    } catch (err) {
      this.say({ type: 'log', text: `cannot read our refs of ${fingerprint(peer)}: ${(err as Error).message}` });
      held.offers.sessionEnded(judged, () => null); // not knowing counts as delivered: no hold-off
    }
  }

  async stop(): Promise<void> {
    this.reach?.stop();
    this.watcher?.close();
    for (const held of this.held.values()) this.dropEarly(held);
    this.helperSocket?.close();
    for (const conn of this.conns) conn.close();
    await this.server?.close().catch(() => {});
    await this.dht?.destroy().catch(() => {});
  }
}

function gitOutput(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`git ${args[2]} exited with ${code}`))));
  });
}

function main(): void {
  const say = (m: FromNode) => {
    if (process.connected) process.send?.(m);
  };
  let node: PeerNode | undefined;
  // The endpoint is our only reason to exist: if it goes (even killed), so do we.
  process.on('disconnect', () => void (node?.stop() ?? Promise.resolve()).finally(() => process.exit()));
  process.on('message', (m: ToNode) => {
    switch (m.type) {
      case 'start':
        node = new PeerNode(m.gitDir, m.settings, say);
        node.start().catch((err: Error) => {
          say({ type: err.name === 'KeyFileError' ? 'fatal' : 'log', text: err.message });
          process.exitCode = err.name === 'KeyFileError' ? 3 : 1;
          process.disconnect();
        });
        return;
      case 'settings':
        return node?.configure(m.settings);
      case 'dial':
        if (!node) return;
        // 'up' again even if the link was up already: the remote asking may have missed it.
        return void node.ensureLink(m.key).then(
          () => say({ type: 'up', key: m.key }),
          (err: Error) => say({ type: 'dial-failed', key: m.key, reason: err.message, needsUser: err.name === 'KeyFileError' }),
        );
      case 'notice':
        return node?.sendNotice(m.text, m.url);
      case 'offer':
        return void node?.offerNamed(m.refs).catch((err: Error) => say({ type: 'log', text: `cannot offer ${m.refs.length} refs: ${err.message}` }));
      case 'stop':
        return void (node?.stop() ?? Promise.resolve()).finally(() => process.exit(0));
    }
  });
}

main();
