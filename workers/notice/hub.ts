// The carrier-neutral half of a notice endpoint: which remotes are linked under which normalised
// URL, what to send when one of them moved, whom to nudge when a notice is heard. A carrier (XMPP
// in workers/xmpp/, a peer-to-peer link elsewhere) only moves encoded notices and vouches for who
// sent them; everything a notice may cause is decided here, the same way for every carrier.

import type { MessagePort } from 'node:worker_threads';
import { DEFAULT_BUCKET, TokenBuckets, type BucketOptions } from '../tokenbucket.js';
import { encodeNotice, MAX_REFS, normaliseUrl, type Notice } from './format.js';
import type { FromCarrier, ToCarrier } from './link.js';

/** What a carrier offers the hub: send one encoded notice to the user's other devices. */
export interface CarrierOut {
  /**
   * `url` is the notice's (normalised): a carrier that reaches others than the user's own devices
   * (peer links) sends it only to those that have that remote. Returns how many devices it went
   * to (0: nobody is listening now, which is no error).
   */
  send(encoded: string, url: string): number;
}

/** A device that says again, within this long, what we just heard from another is not repeated. */
const ECHO_MS = 60_000;

export interface HubOptions {
  log(text: string): void;
  /** Something status shows changed (a notice sent or heard). */
  changed?(): void;
  bucket?: BucketOptions;
  now?: () => number;
}

export interface HubFacts {
  lastSent?: { at: number; url: string; refs: number; devices: number };
  lastHeard?: { at: number; from: string; url: string; remotes: string[] };
  ignored: number;
  limited: number;
}

interface Linked {
  url: string | undefined;
  port: MessagePort;
}

export class NoticeHub {
  private readonly remotes = new Map<string, Linked>();
  private readonly buckets: TokenBuckets;
  /** url -> ref -> value heard and when: what our own fetch of it must not announce again. */
  private readonly heard = new Map<string, Map<string, { sha: string; at: number }>>();
  private carrier: CarrierOut | undefined;
  /**
   * What moved while no carrier was up, per URL: said once it is back, since the devices that
   * stayed online have no reconnect of their own to catch up with. At most MAX_REFS per URL.
   */
  private readonly unsent = new Map<string, Map<string, string>>();
  /** URLs a notice over the limit was about: looked at once, later, rather than never. */
  private readonly owed = new Set<string>();
  private owedTimer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  readonly facts: HubFacts = { ignored: 0, limited: 0 };

  private readonly bucket: BucketOptions;

  constructor(private readonly options: HubOptions) {
    this.now = options.now ?? Date.now;
    this.bucket = options.bucket ?? DEFAULT_BUCKET;
    this.buckets = new TokenBuckets(this.bucket, this.now);
  }

  attach(remote: string, url: string, port: MessagePort): void {
    this.detach(remote);
    const linked: Linked = { url: normaliseUrl(url), port };
    this.remotes.set(remote, linked);
    port.on('message', (message: ToCarrier) => {
      if (message?.type === 'moved' && Array.isArray(message.refs)) this.moved(linked, message.refs);
    });
    if (!linked.url) this.options.log(`${remote}: its URL names nothing other devices could share; no notices for it`);
  }

  stop(): void {
    clearTimeout(this.owedTimer);
    for (const remote of [...this.remotes.keys()]) this.detach(remote);
  }

  detach(remote: string): void {
    this.remotes.get(remote)?.port.close();
    this.remotes.delete(remote);
  }

  /** The carrier is up, and knows who listens (or gone: undefined). */
  setCarrier(carrier: CarrierOut | undefined): void {
    this.carrier = carrier;
    if (!carrier) return;
    const unsent = [...this.unsent];
    this.unsent.clear();
    for (const [url, refs] of unsent) this.announce(url, [...refs]);
  }

  /**
   * After every (re)connect of a carrier: notices sent while it was down are lost, so every remote
   * looks for itself, once.
   */
  catchUp(why: string): void {
    // Only remotes a notice could be about: one whose URL names nothing shareable (a peer's
    // p2p:// address) hears no notices, so it has none to catch up on, and its own transport
    // catches up after its own reconnects.
    for (const linked of this.remotes.values()) if (linked.url !== undefined) post(linked.port, { type: 'nudge', why });
  }

  /** A notice the carrier received from `sender`, whom it has already checked we trust. */
  hear(sender: string, notice: Notice): void {
    const targets = [...this.remotes].filter(([, l]) => l.url === notice.url);
    if (targets.length === 0) {
      this.facts.ignored++;
      return;
    }
    if (!this.buckets.take(sender)) {
      // Over the limit (a flood, or a burst of real pushes): not dropped, deferred. However many
      // notices come, each known URL costs one more listing per refill period at most.
      this.facts.limited++;
      this.owed.add(notice.url);
      this.owedTimer ??= setTimeout(() => this.payOwed(), this.bucket.refillMs);
      return;
    }
    const heard = this.heardFor(notice.url);
    for (const [ref, sha] of notice.refs) heard.set(ref, { sha, at: this.now() });
    for (const [, linked] of targets) post(linked.port, { type: 'nudge', why: `notice from ${sender}` });
    this.facts.lastHeard = { at: this.now(), from: sender, url: notice.url, remotes: targets.map(([name]) => name) };
    this.options.changed?.();
  }

  private payOwed(): void {
    this.owedTimer = undefined;
    for (const linked of this.remotes.values()) if (linked.url && this.owed.has(linked.url)) post(linked.port, { type: 'nudge', why: 'notices over the rate limit' });
    this.owed.clear();
  }

  private moved(linked: Linked, refs: [string, string][]): void {
    if (!linked.url) return;
    if (!this.carrier) {
      let unsent = this.unsent.get(linked.url);
      if (!unsent) this.unsent.set(linked.url, (unsent = new Map()));
      for (const [ref, sha] of refs) if (unsent.has(ref) || unsent.size < MAX_REFS) unsent.set(ref, sha);
      return;
    }
    const heard = this.heard.get(linked.url);
    const now = this.now();
    // Our fetch of what another device told us about: it knows, and so does everyone it told.
    const news = refs.filter(([ref, sha]) => {
      const h = heard?.get(ref);
      return !(h && h.sha === sha && now - h.at < ECHO_MS);
    });
    if (news.length > 0) this.announce(linked.url, news);
  }

  private announce(url: string, refs: [string, string][]): void {
    if (!this.carrier) return;
    const notice: Notice = { url, refs: refs.slice(0, MAX_REFS) };
    const devices = this.carrier.send(encodeNotice(notice), url);
    this.facts.lastSent = { at: this.now(), url, refs: notice.refs.length, devices };
    this.options.changed?.();
  }

  private heardFor(url: string): Map<string, { sha: string; at: number }> {
    let heard = this.heard.get(url);
    if (!heard) this.heard.set(url, (heard = new Map()));
    // Only URLs of linked remotes get here, and each keeps at most the refs of its recent notices.
    const now = this.now();
    for (const [ref, h] of heard) if (now - h.at >= ECHO_MS) heard.delete(ref);
    return heard;
  }
}

function post(port: MessagePort, message: FromCarrier): void {
  try {
    port.postMessage(message);
  } catch {
    // the remote's worker is going away; it is detached next
  }
}
