// The carrier-neutral half of a notice endpoint: which remotes are linked under which normalised
// URL, what to send when one of them moved, whom to nudge when a notice is heard. A carrier (XMPP
// in workers/xmpp/, a peer-to-peer link elsewhere) only moves encoded notices and vouches for who
// sent them; everything a notice may cause is decided here, the same way for every carrier.

import type { MessagePort } from 'node:worker_threads';
import { DEFAULT_BUCKET, TokenBuckets, type BucketOptions } from '../tokenbucket.js';
import { encodeNotice, MAX_REFS, normaliseUrl, type Notice } from './format.js';
import type { FromCarrier, ToCarrier } from './link.js';

/**
 * Whom one remote's notices may come from and go to, when one carrier serves repositories that
 * trust differently (an XMPP login shared by repositories with different trust lists): each
 * repository's trust applies to its own remotes alone. Without one, a remote hears every sender
 * the carrier vouches for and tells everyone the carrier reaches.
 */
export interface Audience {
  /** Equal keys: the same audience (what is deferred or remembered for one is for all of them). */
  readonly key: string;
  /** A notice from `sender` (already vouched for by the carrier) may nudge the remote. */
  hears(sender: string): boolean;
}

/** What a carrier offers the hub: send one encoded notice to the user's other devices. */
export interface CarrierOut<A extends Audience = Audience> {
  /**
   * `url` is the notice's (normalised): a carrier that reaches others than the user's own devices
   * (peer links) sends it only to those that have that remote. `audience`, when the remote that
   * moved has one, is whom it may go to. Returns how many devices it went to (0: nobody is
   * listening now, which is no error).
   */
  send(encoded: string, url: string, audience?: A): number;
}

/** A device that says again, within this long, what we just heard from another is not repeated. */
const ECHO_MS = 60_000;

export interface HubOptions<A extends Audience = Audience> {
  log(text: string): void;
  /**
   * The audience of a remote attached with its repository's own settings (EndpointPlugin.own:
   * XMPP's trust list); without it, or without own settings, a remote has none.
   */
  audience?(own: Record<string, unknown>): A;
  /** The remotes attached changed: the audiences() the carrier must serve may have too. */
  audiencesChanged?(): void;
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

interface Linked<A> {
  url: string | undefined;
  port: MessagePort;
  audience: A | undefined;
}

export class NoticeHub<A extends Audience = Audience> {
  private readonly remotes = new Map<string, Linked<A>>();
  private readonly buckets: TokenBuckets;
  /**
   * url (per audience: scoped()) -> ref -> value heard and when: what our own fetch of it must not
   * announce again. Per audience: what one repository heard, another that trusts others did not.
   */
  private readonly heard = new Map<string, Map<string, { sha: string; at: number }>>();
  private carrier: CarrierOut<A> | undefined;
  /**
   * What moved while no carrier was up, per URL and audience: said once it is back, since the
   * devices that stayed online have no reconnect of their own to catch up with. At most MAX_REFS
   * per URL and audience (the audiences a carrier serves are bounded: see EndpointPlugin.own).
   */
  private readonly unsent = new Map<string, { url: string; audience: A | undefined; refs: Map<string, string> }>();
  /** URLs a notice over the limit was about: looked at once, later, rather than never. */
  private readonly owed = new Set<string>();
  private owedTimer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  readonly facts: HubFacts = { ignored: 0, limited: 0 };

  private readonly bucket: BucketOptions;

  constructor(private readonly options: HubOptions<A>) {
    this.now = options.now ?? Date.now;
    this.bucket = options.bucket ?? DEFAULT_BUCKET;
    this.buckets = new TokenBuckets(this.bucket, this.now);
  }

  /** `own`: its repository's own settings, which say whom it hears and tells (options.audience). */
  attach(remote: string, url: string, port: MessagePort, own?: Record<string, unknown>): void {
    this.detach(remote);
    const audience = own && this.options.audience?.(own);
    const linked: Linked<A> = { url: normaliseUrl(url), port, audience };
    this.remotes.set(remote, linked);
    port.on('message', (message: ToCarrier) => {
      if (message?.type === 'moved' && Array.isArray(message.refs)) this.moved(linked, message.refs);
    });
    if (!linked.url) this.options.log(`${remote}: its URL names nothing other devices could share; no notices for it`);
    this.options.audiencesChanged?.();
  }

  /** The audiences of the remotes attached now (one per remote that has one). */
  audiences(): A[] {
    return [...this.remotes.values()].flatMap((l) => (l.audience ? [l.audience] : []));
  }

  stop(): void {
    clearTimeout(this.owedTimer);
    for (const remote of [...this.remotes.keys()]) this.detach(remote);
  }

  detach(remote: string): void {
    const linked = this.remotes.get(remote);
    if (!linked) return;
    linked.port.close();
    this.remotes.delete(remote);
    if (linked.audience) this.options.audiencesChanged?.();
  }

  /** The carrier is up, and knows who listens (or gone: undefined). */
  setCarrier(carrier: CarrierOut<A> | undefined): void {
    this.carrier = carrier;
    if (!carrier) return;
    const unsent = [...this.unsent.values()];
    this.unsent.clear();
    for (const { url, audience, refs } of unsent) this.announce(url, [...refs], audience);
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

  /**
   * A notice the carrier received from `sender`, whom it has already checked that some repository
   * trusts: only remotes whose audience hears that sender are nudged.
   */
  hear(sender: string, notice: Notice): void {
    const targets = [...this.remotes].filter(([, l]) => l.url === notice.url && (l.audience?.hears(sender) ?? true));
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
    for (const audience of new Set(targets.map(([, l]) => l.audience))) {
      const heard = this.heardFor(scoped(notice.url, audience));
      for (const [ref, sha] of notice.refs) heard.set(ref, { sha, at: this.now() });
    }
    for (const [, linked] of targets) post(linked.port, { type: 'nudge', why: `notice from ${sender}` });
    this.facts.lastHeard = { at: this.now(), from: sender, url: notice.url, remotes: targets.map(([name]) => name) };
    this.options.changed?.();
  }

  private payOwed(): void {
    this.owedTimer = undefined;
    for (const linked of this.remotes.values()) if (linked.url && this.owed.has(linked.url)) post(linked.port, { type: 'nudge', why: 'notices over the rate limit' });
    this.owed.clear();
  }

  private moved(linked: Linked<A>, refs: [string, string][]): void {
    if (!linked.url) return;
    const key = scoped(linked.url, linked.audience);
    if (!this.carrier) {
      let unsent = this.unsent.get(key);
      if (!unsent) this.unsent.set(key, (unsent = { url: linked.url, audience: linked.audience, refs: new Map() }));
      for (const [ref, sha] of refs) if (unsent.refs.has(ref) || unsent.refs.size < MAX_REFS) unsent.refs.set(ref, sha);
      return;
    }
    const heard = this.heard.get(key);
    const now = this.now();
    // Our fetch of what another device told us about: it knows, and so does everyone it told.
    const news = refs.filter(([ref, sha]) => {
      const h = heard?.get(ref);
      return !(h && h.sha === sha && now - h.at < ECHO_MS);
    });
    if (news.length > 0) this.announce(linked.url, news, linked.audience);
  }

  private announce(url: string, refs: [string, string][], audience: A | undefined): void {
    if (!this.carrier) return;
    const notice: Notice = { url, refs: refs.slice(0, MAX_REFS) };
    const devices = this.carrier.send(encodeNotice(notice), url, audience);
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

/** What is kept per URL, kept apart per audience. */
function scoped(url: string, audience: Audience | undefined): string {
  return audience ? `${audience.key}\n${url}` : url;
}

function post(port: MessagePort, message: FromCarrier): void {
  try {
    port.postMessage(message);
  } catch {
    // the remote's worker is going away; it is detached next
  }
}
