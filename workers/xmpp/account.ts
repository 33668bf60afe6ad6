// One XMPP login per daemon (a login costs 1.5–3 s of SCRAM in JavaScript): connected with TLS
// verified for the account's domain, reconnected with backoff, quiet until the user acts when
// retrying cannot help (a wrong password, a certificate that does not verify).
//
// How the daemons of one account find each other without bothering anyone else: each sends
// presence with a negative priority (so the server gives it no chat messages meant for the user,
// and no headline sent to the bare JID) and a marker element; the server tells every resource of
// the account about every other one's presence, so each daemon knows the full JIDs of the others
// and sends them headline messages directly. A chat client of the same account is never addressed.

import { randomBytes } from 'node:crypto';
import { client, jid as parseJid, xml, type Client, type Element } from '@xmpp/client';
import { StringDecoder } from 'node:string_decoder';
import { backoffDelay } from '../../shared/backoff.js';
import { describeNetError } from '../../shared/kit/neterror.js';
import { STANZAS, StanzaFilter, type Skipped } from './stanzafilter.js';
import { bare } from './trust.js';

/** Our presence marker and the notice element, one namespace per notice format version. */
export const NOTICE_NS = 'urn:git-remote-daemon:notice:1';
const SM_NS = 'urn:xmpp:sm:3';
const STREAMS_NS = 'http://etherx.jabber.org/streams';
/** Login, TLS and all: past this the attempt is abandoned and retried later. */
const LOGIN_TIMEOUT_MS = 30_000;
/** How long to wait for stream management to answer before presence goes out anyway. */
const SETTLE_TIMEOUT_MS = 10_000;
/** A connection that went quiet is found out within PING_EVERY + PING_TIMEOUT. */
const PING_EVERY_MS = 60_000;
const PING_TIMEOUT_MS = 20_000;
/** A login that lasted this long was healthy: losing it retries at once. */
const HEALTHY_AFTER_MS = 60_000;
/** Nothing this daemon accepts comes near it: a longer element is skipped as it streams past. */
const MAX_ELEMENT_CHARS = 64 * 1024;
/** Skipped stanzas are said in the log at most this often, as a count. */
const SKIPPED_LOG_EVERY_MS = 60_000;
/** Other daemons remembered at most; a presence flood cannot grow memory past it. */
const MAX_PEERS = 64;

export interface AccountSettings {
  /** The account, a bare JID. */
  jid: string;
  /** `xmpp://host:port`; by default the domain, resolved as XMPP clients do (SRV records). */
  service?: string;
}

export interface AccountEvents {
  password(): Promise<string>;
  /** The password was accepted or refused (for git's credential helpers). */
  passwordResult(password: string, ok: boolean): void;
  /** Logged in and announced: anything sent while we were away was lost, so look now. */
  online(fullJid: string): void;
  offline(reason: string): void;
  /**
   * A notice from a daemon of our own or a trusted account (bare JID), already checked to be
   * one; which repositories' remotes it may nudge is theirs to say (trust.ts).
   */
  notice(sender: string, text: string): void;
  condition(kind: string, text: string | null): void;
  /** What status shows changed: the state, the other devices listening, the last failure. */
  changed?(): void;
  log(text: string): void;
}

/** Retrying cannot fix it: said once, then nothing until RESUME or RELOAD. */
class NeedsUser extends Error {}

export type AccountState = 'connecting' | 'online' | 'backoff' | 'waiting' | 'paused' | 'stopped';

export class XmppAccount {
  /** Stable for this run, so that a reconnect takes over the old session's address at once. */
  readonly resource = `grd-${randomBytes(4).toString('hex')}`;
  state: AccountState = 'connecting';
  since = Date.now();
  fullJid: string | undefined;
  /** Why the last attempt failed or the login ended, until the next login succeeds. */
  problem: string | undefined;
  private xmpp: Client | undefined;
  private attemptId = 0;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private pinger: NodeJS.Timeout | undefined;
  private onlineAt = 0;
  private readonly peers = new Set<string>();
  /** Other accounts some repository trusts (bare JIDs), as last set (trust()). */
  private others: string[] = [];
  /** Those and our own: whose stanzas are read, whose subscriptions granted. */
  private trusted: Set<string>;
  /** The login whose presence has gone out: a trusted account added later is asked at once. */
  private announced: Client | undefined;
  /** Stanzas skipped unread since the log last said so (a stranger's flood costs a count). */
  private skipped = { untrusted: 0, oversize: 0, lastFrom: '', loggedAt: 0 };
  private skippedTimer: NodeJS.Timeout | undefined;
  /** Skipped since this process started, for status and tests. */
  skippedTotal = 0;

  constructor(private settings: AccountSettings, private readonly events: AccountEvents) {
    this.trusted = new Set([bare(settings.jid)]);
  }

  start(): void {
    this.connect();
  }

  /** New settings: another account or server means logging in again. */
  update(settings: AccountSettings): void {
    const relogin = settings.jid !== this.settings.jid || settings.service !== this.settings.service;
    this.settings = settings;
    this.trust(this.others);
    // Paused (LOSTNET): the new login waits for RESUME like the old one did.
    if (relogin && this.state !== 'paused') this.retryNow();
  }

  /**
   * The accounts some repository of this login trusts (the union of their trust lists), live: one
   * added is asked for a subscription at once; one no repository trusts any more is no longer
   * read, granted or told anything (its daemons are forgotten), though the server's roster keeps it.
   */
  trust(accounts: Iterable<string>): void {
    // A repository that lists our own account trusts nothing more by it: it is heard anyway.
    this.others = [...new Set([...accounts].map(bare))].filter((jid) => jid !== this.ownBare());
    const before = this.trusted;
    this.trusted = new Set([this.ownBare(), ...this.others]);
    const added = [...this.trusted].filter((jid) => !before.has(jid));
    if (added.length > 0 && this.xmpp && this.announced === this.xmpp) void this.subscribeToTrusted(this.xmpp, added);
    if (added.length > 0 || before.size !== this.trusted.size) this.events.log(`hears ${describeAccounts(this.others)} (what its repositories trust)`);
    const gone = [...this.peers].filter((peer) => !this.trusted.has(bare(peer)));
    for (const peer of gone) this.peers.delete(peer);
    if (gone.length > 0) this.events.changed?.();
  }

  /** PAUSE and LOSTNET: off the network until RESUME. */
  pause(): void {
    this.drop('paused');
    // Not trying any more: "cannot reach the server" is not true now (RESUME tries again).
    this.problem = undefined;
    this.events.condition('connect', null);
    this.events.changed?.();
  }

  /** RESUME or RELOAD: whatever stood in the way may be fixed; try now unless connected. */
  retryNow(): void {
    if (this.state === 'stopped') return;
    if (this.state === 'online' && this.xmpp) return;
    this.failures = 0;
    this.drop('connecting');
    this.connect();
  }

  async stop(): Promise<void> {
    const x = this.xmpp;
    this.drop('stopped');
    await x?.stop().catch(() => {});
  }

  /**
   * Sends to every other daemon known to be online now whose account (a bare JID) `admits` lets
   * through (the repository's trust: trust.ts); returns how many.
   */
  send(encoded: string, admits: (account: string) => boolean): number {
    const x = this.xmpp;
    if (!x || this.state !== 'online') return 0;
    let sent = 0;
    for (const to of this.peers) {
      if (!admits(bare(to))) continue;
      sent++;
      const message = xml('message', { to, type: 'headline' }, xml('notice', { xmlns: NOTICE_NS }, encoded), xml('no-store', { xmlns: 'urn:xmpp:hints' }));
      x.send(message).catch((err: Error) => this.events.log(`sending to ${to} failed: ${err.message}`));
    }
    return sent;
  }

  get peerCount(): number {
    return this.peers.size;
  }

  private setState(state: AccountState): void {
    if (state === this.state) return;
    this.since = Date.now();
    this.state = state;
    this.events.changed?.();
  }

  /** Ends the current attempt or login, if any, without scheduling another. */
  private drop(state: AccountState): void {
    this.attemptId++;
    clearTimeout(this.timer);
    clearInterval(this.pinger);
    this.reportSkipped();
    const x = this.xmpp;
    this.xmpp = undefined;
    const wasOnline = this.state === 'online';
    const hadPeers = this.peers.size > 0;
    this.peers.clear();
    this.fullJid = undefined;
    this.setState(state);
    if (hadPeers) this.events.changed?.();
    if (x) void x.stop().catch(() => {});
    if (wasOnline) this.events.offline(state);
  }

  private connect(): void {
    const id = ++this.attemptId;
    this.setState('connecting');
    void this.attempt(id).catch((err: unknown) => this.failed(id, err));
  }

  private async attempt(id: number): Promise<void> {
    const { local, domain } = parseJid(this.settings.jid);
    let password: string | undefined;
    const x = client({
      service: this.settings.service ?? domain,
      domain,
      resource: this.resource,
      credentials: async (authenticate, mechanisms, _fast, entity) => {
        // STARTTLS verified the certificate for `domain`; a server that skipped TLS gets nothing.
        if (!entity.isSecure()) throw new NeedsUser(`${domain} offered no TLS; not sending the password in the clear`);
        password = await this.events.password();
        const mechanism = mechanisms.find((m) => m.startsWith('SCRAM-')) ?? mechanisms[0];
        await authenticate({ username: local, password }, mechanism);
      },
    });
    x.reconnect.stop(); // reconnecting is ours to pace (shared/backoff.ts), and RESUME's to hurry
    // xmpp.js waits 2 s for each step (stream open, a ping's answer; its types leave the field
    // out): on a loaded machine or a slow link a TLS login takes longer, and each miss cost a
    // WARNING and a reconnect.
    (x as unknown as { timeout: number }).timeout = 10_000;
    this.xmpp = x;
    filterElements(
      x,
      (name, from) => this.admits(name, from),
      (element) => this.skippedElement(x, element),
      () => this.lost(id, 'the server sent text too long to be anything we use between elements'),
    );
    let smOffered = false;
    let smAnswered!: () => void;
    const settled = new Promise<void>((resolve) => (smAnswered = resolve));
    x.on('nonza', (el: Element) => {
      if (el.is('features', STREAMS_NS) && el.getChild('sm', SM_NS)) smOffered = true;
      if (el.is('enabled', SM_NS) || el.is('failed', SM_NS)) smAnswered();
    });
    x.on('stanza', (el: Element) => this.stanza(el));
    x.on('disconnect', () => this.lost(id, 'the connection to the server ended'));
    const failedEarly = new Promise<never>((_, reject) => x.on('error', reject));
    failedEarly.catch(() => {});
    try {
      await within(Promise.race([x.start(), failedEarly]), LOGIN_TIMEOUT_MS, 'logging in took too long');
    } catch (err) {
      if (password !== undefined && (err as Error).name === 'SASLError') this.events.passwordResult(password, false);
      throw err;
    }
    if (id !== this.attemptId) return;
    if (password !== undefined) this.events.passwordResult(password, true);
    // With stream management, presence sent before the server has answered <enable/> got a
    // client dropped by Prosody in 2-4 of 20 runs, losing up to 19 of 20 messages; after it, in
    // none of 40 (bench/xmpp-smacks.ts).
    if (smOffered) await within(settled, SETTLE_TIMEOUT_MS, 'stream management did not answer').catch(() => {});
    if (id !== this.attemptId) return;
    await x.send(xml('presence', {}, xml('priority', {}, '-1'), xml('notices', { xmlns: NOTICE_NS })));
    this.announced = x;
    await this.subscribeToTrusted(x);
    // The server sends us the other resources' presence while it handles ours, so once a ping
    // sent after it is answered, every daemon already online is known: what we say next reaches it.
    await x.iqCaller.request(this.pingStanza(), PING_TIMEOUT_MS).catch(() => {});
    if (id !== this.attemptId) return;
    this.onlineAt = Date.now();
    this.fullJid = x.jid?.toString();
    this.problem = undefined;
    this.setState('online');
    this.events.condition('connect', null);
    this.events.condition('login', null);
    this.events.condition('tls', null);
    this.pinger = setInterval(() => this.ping(id, x), PING_EVERY_MS);
    this.events.online(this.fullJid ?? this.settings.jid);
  }

  private failed(id: number, err: unknown): void {
    if (id !== this.attemptId) return;
    // This attempt is over: the socket's late "disconnect" must not count as a second failure.
    this.attemptId++;
    const x = this.xmpp;
    this.xmpp = undefined;
    if (x) void x.stop().catch(() => {});
    const why = describe(err, this.settings.service ?? parseJid(this.settings.jid).domain);
    this.problem = why.text;
    if (why.needsUser) {
      this.setState('waiting');
      this.events.condition(why.kind, `${why.text}; not retrying until RESUME or RELOAD`);
      return;
    }
    this.events.condition('connect', `${why.text}; retrying with backoff`);
    this.backoff();
  }

  private lost(id: number, reason: string): void {
    if (id !== this.attemptId) return;
    // Before login completes, the attempt itself fails with the better reason (a refused
    // certificate closes the socket too): give its rejection the chance to arrive first.
    if (this.state !== 'online') return void setTimeout(() => this.lostNow(id, reason), 0);
    this.lostNow(id, reason);
  }

  private lostNow(id: number, reason: string): void {
    if (id !== this.attemptId) return;
    const wasOnline = this.state === 'online';
    this.drop('backoff');
    this.events.log(`${reason}`);
    this.problem = reason;
    if (!wasOnline) {
      // The server took the connection and let go of it before we were logged in.
      this.events.condition('connect', `cannot log in to the XMPP server: ${reason} before the login was done; retrying with backoff`);
      return this.backoff();
    }
    if (Date.now() - this.onlineAt >= HEALTHY_AFTER_MS) this.failures = 0;
    this.backoff();
  }

  private backoff(): void {
    this.setState('backoff');
    const delay = backoffDelay(++this.failures, Math.random());
    this.events.log(`logging in again in ${(delay / 1000).toFixed(1)} s`);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  private pingStanza(): Element {
    return xml('iq', { type: 'get', to: parseJid(this.settings.jid).domain }, xml('ping', { xmlns: 'urn:xmpp:ping' }));
  }

  private ping(id: number, x: Client): void {
    x.iqCaller.request(this.pingStanza(), PING_TIMEOUT_MS).catch((err: Error) => {
      // An error reply still proves the server is there; only silence means the link is gone.
      if (err.name === 'TimeoutError' || /timeout/i.test(err.message)) this.lost(id, 'the server stopped answering pings');
    });
  }

  private ownBare(): string {
    return bare(this.settings.jid);
  }

  /**
   * Another account's daemons are seen, and can be sent notices, only with a presence
   * subscription both ways: we ask each trusted account for one (each login, and when the trust
   * list grows), and grant theirs (stanza()). The server keeps them in the roster; asking again
   * for one that holds changes nothing.
   */
  private async subscribeToTrusted(x: Client, only?: Iterable<string>): Promise<void> {
    for (const jid of only ?? this.trusted) {
      if (jid === this.ownBare()) continue;
      await x.send(xml('presence', { to: jid, type: 'subscribe' })).catch(() => {});
    }
  }

  /**
   * Which top-level elements the parser may see: the server's own (no `from`, or our domain),
   * and stanzas from our own account or a trusted one. A stranger's stanza is skipped unread.
   */
  private admits(name: string, from: string | undefined): boolean {
    if (!STANZAS.has(name) || from === undefined) return true;
    let sender;
    try {
      sender = parseJid(from);
    } catch {
      return false;
    }
    const senderBare = sender.bare().toString();
    return this.trusted.has(senderBare) || senderBare === parseJid(this.settings.jid).domain;
  }

  private skippedElement(x: Client, element: Skipped): void {
    // Stream management acknowledges stanzas handled: a skipped one is handled too, or the server
    // would keep it queued for us and, past its queue limit, end the session.
    if (element.name !== undefined && STANZAS.has(element.name) && x.streamManagement) x.streamManagement.inbound += 1;
    this.skippedTotal++;
    this.skipped[element.why]++;
    if (element.from !== undefined) this.skipped.lastFrom = element.from.slice(0, 100);
    const wait = this.skipped.loggedAt + SKIPPED_LOG_EVERY_MS - Date.now();
    if (wait <= 0) this.reportSkipped();
    else this.skippedTimer ??= setTimeout(() => this.reportSkipped(), wait);
  }

  /** Says how many stanzas were skipped since it last said so, if any. */
  private reportSkipped(): void {
    clearTimeout(this.skippedTimer);
    this.skippedTimer = undefined;
    const { untrusted, oversize, lastFrom } = this.skipped;
    if (untrusted + oversize === 0) return;
    const parts = [];
    if (untrusted > 0) parts.push(`${untrusted} from accounts not trusted (last: ${JSON.stringify(lastFrom)})`);
    if (oversize > 0) parts.push(`${oversize} over ${MAX_ELEMENT_CHARS / 1024} KiB`);
    this.events.log(`skipped unread: ${parts.join(', ')}`);
    this.skipped = { untrusted: 0, oversize: 0, lastFrom: '', loggedAt: Date.now() };
  }

  private stanza(el: Element): void {
    const from = el.attrs.from;
    // The server echoes our own presence back to us, before we count as online.
    if (!from || from === this.xmpp?.jid?.toString()) return;
    let sender;
    try {
      sender = parseJid(from);
    } catch {
      return;
    }
    const senderBare = sender.bare().toString();
    // Anyone else gets no answer at all: not an error, not a receipt, nothing to probe with.
    if (!this.trusted.has(senderBare)) return;
    // A trusted account asks to see our presence (it subscribes to us, as we do to it): granted.
    // A stranger's request never gets this far (skipped unread): it is never granted.
    if (el.is('presence') && el.attrs.type === 'subscribe') {
      if (senderBare !== this.ownBare()) void this.xmpp?.send(xml('presence', { to: senderBare, type: 'subscribed' })).catch(() => {});
      return;
    }
    if (!sender.resource) return;
    if (el.is('presence')) {
      // The server's own "gone" for a closed stream carries no marker: only arrivals need one.
      if (el.attrs.type === 'unavailable') {
        if (this.peers.delete(from)) {
          this.events.log(`${from} stopped listening`);
          this.events.changed?.();
        }
      } else if (el.attrs.type === undefined && el.getChild('notices', NOTICE_NS) && !this.peers.has(from) && this.peers.size < MAX_PEERS) {
        this.peers.add(from);
        this.events.log(`${from} listens for notices`);
        this.events.changed?.();
      }
      return;
    }
    if (el.is('message') && el.attrs.type === 'headline') {
      const notice = el.getChild('notice', NOTICE_NS);
      if (notice) this.events.notice(senderBare, notice.text());
    }
  }
}

/**
 * Puts a StanzaFilter between the socket and @xmpp/client's parser. The client makes a new parser
 * for every stream it opens (after STARTTLS, after login); the filter starts afresh with it.
 */
function filterElements(x: Client, admit: (name: string, from: string | undefined) => boolean, skipped: (element: Skipped) => void, tooLarge: () => void): void {
  let parser: unknown;
  let decoder = new StringDecoder('utf8');
  let filter: StanzaFilter | undefined;
  x._onData = (data: Buffer) => {
    if (!x.parser) return; // the stream is closing: nothing more is read
    if (x.parser !== parser || !filter) {
      parser = x.parser;
      decoder = new StringDecoder('utf8');
      filter = new StanzaFilter(admit, MAX_ELEMENT_CHARS, {
        deliver: (text) => x.parser?.write(text),
        skipped,
        tooLarge,
      });
    }
    filter.push(decoder.write(data));
  };
}

/** Other accounts heard, for the log: a few by name (a union may hold hundreds). */
function describeAccounts(accounts: readonly string[]): string {
  if (accounts.length === 0) return 'no other account';
  const named = accounts.slice(0, 5).join(', ');
  return `${accounts.length} other account(s): ${named}${accounts.length > 5 ? ', ...' : ''}`;
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(what)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

const TLS_VERIFY = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME|UNABLE_TO_GET_ISSUER/;

/** Why an attempt failed, for the WARNING and status; `server` is whom we tried. */
function describe(err: unknown, server: string): { kind: string; text: string; needsUser: boolean } {
  const e = err as Error & { code?: string; condition?: string };
  if (e instanceof NeedsUser) return { kind: 'login', text: e.message, needsUser: true };
  if (e?.name === 'CredentialProblem') return { kind: 'login', text: e.message, needsUser: true };
  if (e?.name === 'SASLError') return { kind: 'login', text: `the server refused the login (${e.condition ?? e.message})`, needsUser: e.condition === 'not-authorized' || e.condition === 'account-disabled' };
  if (typeof e?.code === 'string' && TLS_VERIFY.test(e.code)) return { kind: 'tls', text: `the server's certificate does not verify (${e.code})`, needsUser: true };
  const system = describeNetError(e);
  // The system's reason names the address or host itself.
  if (system) return { kind: 'connect', text: `cannot reach the XMPP server: ${system}`, needsUser: false };
  // Some of xmpp.js's errors carry no message (a stream that ended early): name what there is.
  const why = e?.message || e?.condition || e?.code || e?.name || 'the connection ended';
  return { kind: 'connect', text: `cannot reach the XMPP server ${server.replace(/^xmpp:\/\//, '')}: ${why}`, needsUser: false };
}
