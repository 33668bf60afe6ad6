// XmppAccount (workers/xmpp/account.ts) driven directly, in this process, against one real Prosody
// (test/xmpp/prosody.ts) shared by the file: its events recorded in order, other accounts' daemons
// and chat clients played by plain @xmpp clients. What the daemon tests prove end to end (a push
// travels, status shows the count) is not repeated: this is the login's own logic, namely the order
// of its events, its backoff, a refused password that waits for the user, live trust, whom send()
// addresses, the stanza filter for strangers, pause/resume and stop().
//
// Node 20 reads NODE_EXTRA_CA_CERTS only when a process starts, and the harness makes its CA when
// the server starts: so while this file runs, node:tls's connect() is given the harness's CA along
// with the system's roots when its caller names none (certificates are still verified, host name
// and all; nothing is turned off). @xmpp/tls calls tls.connect through the module object.
//
// An absence is proved without sleeping: by a later positive event that would have come after it
// (a ping the sender's server answered, then a trusted notice), or, for "did not retry", by a
// sibling account with the same backoff (shared/backoff.ts) on a port nothing listens on: once it
// has tried three times (1.5 s to 3 s), a first retry (0.5 s to 1 s) would have begun.

import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { client, xml, type Client, type Element } from '@xmpp/client';
import { NOTICE_NS, XmppAccount, type AccountSettings } from '../../workers/xmpp/account.js';
import { freePort } from '../support/ports.js';
import { startProsody, type Prosody } from './prosody.js';

const PASSWORD = 'correct horse';
const ME = 'me@localhost';
const WORK = 'work@localhost';
const OPS = 'ops@localhost';
const MALLORY = 'mallory@localhost';

let server: Prosody;
let untrustCa: (() => void) | undefined;

before(async () => {
  server = await startProsody({ smacks: true });
  untrustCa = trustCa(readFileSync(server.caFile, 'utf8'));
  await Promise.all(['me', 'work', 'ops', 'mallory'].map((user) => server.register(user, PASSWORD)));
});

after(async () => {
  untrustCa?.();
  await server?.dispose();
});

/** Makes tls.connect trust `ca` (and the system's roots) when its caller gives no CA; returns the undo. */
function trustCa(ca: string): () => void {
  const mutable = tls as { connect: typeof tls.connect };
  const original = mutable.connect;
  const cas = [...tls.rootCertificates, ca];
  mutable.connect = ((...args: unknown[]) => {
    const [options] = args;
    if (options && typeof options === 'object' && !('ca' in options)) args[0] = { ...options, ca: cas };
    return (original as (...a: unknown[]) => tls.TLSSocket)(...args);
  }) as typeof tls.connect;
  return () => {
    mutable.connect = original;
  };
}

/** What happened, in order, as lines; awaitable by pattern. */
class Seen {
  readonly items: string[] = [];
  private wake: (() => void)[] = [];

  push(item: string): void {
    this.items.push(item);
    for (const wake of this.wake.splice(0)) wake();
  }

  /** Index and text of the first line at or after `from` that matches, waiting for it if need be. */
  async next(pattern: RegExp, from = 0, timeoutMs = 20_000): Promise<{ index: number; item: string }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.items.findIndex((item, i) => i >= from && pattern.test(item));
      if (index >= 0) return { index, item: this.items[index]! };
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${pattern} after line ${from}; seen:\n${this.items.join('\n')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  count(pattern: RegExp, from = 0): number {
    return this.items.filter((item, i) => i >= from && pattern.test(item)).length;
  }
}

interface Driven {
  account: XmppAccount;
  seen: Seen;
  /** What password() answers; change it to fix a wrong one. */
  password: { value: string };
}

/** An XmppAccount as a daemon makes one, every event recorded as a line (state changes with the state). */
function driven(t: TestContext, settings: Partial<AccountSettings> = {}, password = PASSWORD): Driven {
  const seen = new Seen();
  const pw = { value: password };
  const account: XmppAccount = new XmppAccount(
    { jid: ME, service: server.service, ...settings },
    {
      password: async () => {
        seen.push('password');
        return pw.value;
      },
      passwordResult: (given, ok) => seen.push(`passwordResult ${given} ${ok}`),
      online: (fullJid) => seen.push(`online ${fullJid} peers=${account.peerCount}`),
      offline: (reason) => seen.push(`offline ${reason}`),
      notice: (sender, text) => seen.push(`notice ${sender} ${text}`),
      condition: (kind, text) => seen.push(`condition ${kind} ${text ?? '(cleared)'}`),
      changed: () => seen.push(`changed ${account.state} peers=${account.peerCount}`),
      log: (text) => seen.push(`log ${text}`),
    },
  );
  t.after(() => account.stop());
  return { account, seen, password: pw };
}

let peers = 0;

interface Peer {
  x: Client;
  /** Full JID. */
  jid: string;
  seen: Seen;
  notice(to: string, payload: string): Promise<void>;
  /** Resolves once the server has handled everything this peer sent before (a ping's answer). */
  fence(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Another client on the server: `daemon` announces itself as our daemons do (priority -1 and the
 * marker), `chat` as a chat client (no marker), `quiet` sends no presence. It grants a presence
 * subscription to `grants` (a bare JID) when asked, and records notices and presence it receives.
 */
async function peer(t: TestContext, user: string, role: 'daemon' | 'chat' | 'quiet', grants?: string): Promise<Peer> {
  const x = client({
    service: server.service,
    domain: 'localhost',
    timeout: 15_000,
    resource: `${role}-${++peers}`,
    // PLAIN (over the verified TLS) keeps the test's own clients quick: SCRAM in JavaScript costs seconds.
    credentials: (auth, mechanisms) => auth({ username: user, password: PASSWORD }, mechanisms.includes('PLAIN') ? 'PLAIN' : mechanisms[0]!),
  });
  x.reconnect.stop();
  x.on('error', () => {});
  const seen = new Seen();
  x.on('stanza', (el: Element) => {
    const from = String(el.attrs.from ?? '');
    if (el.is('presence')) {
      if (el.attrs.type === 'subscribe' && from === grants) void x.send(xml('presence', { to: from, type: 'subscribed' })).catch(() => {});
      seen.push(`presence ${from} ${el.attrs.type ?? 'available'}`);
    }
    const notice = el.is('message') ? el.getChild('notice', NOTICE_NS) : undefined;
    if (notice) seen.push(`notice ${from} ${notice.text()}`);
  });
  // As account.ts does: presence sent before the server answered <enable/> is sometimes lost by
  // Prosody (bench/xmpp-smacks.ts), and then our account would not see this peer arrive.
  let smOffered = false;
  const settled = new Promise<void>((resolve) =>
    x.on('nonza', (el: Element) => {
      if (el.is('features', 'http://etherx.jabber.org/streams') && el.getChild('sm', 'urn:xmpp:sm:3')) smOffered = true;
      if (el.is('enabled', 'urn:xmpp:sm:3') || el.is('failed', 'urn:xmpp:sm:3')) resolve();
    }),
  );
  await x.start();
  if (smOffered) await settled;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await x.stop().catch(() => {});
  };
  t.after(stop);
  if (role === 'daemon') await x.send(xml('presence', {}, xml('priority', {}, '-1'), xml('notices', { xmlns: NOTICE_NS })));
  if (role === 'chat') await x.send(xml('presence', {}, xml('priority', {}, '1')));
  return {
    x,
    jid: x.jid!.toString(),
    seen,
    notice: (to, payload) => x.send(xml('message', { to, type: 'headline' }, xml('notice', { xmlns: NOTICE_NS }, payload))),
    fence: async () => {
      await x.iqCaller.request(xml('iq', { type: 'get', to: 'localhost' }, xml('ping', { xmlns: 'urn:xmpp:ping' })), 15_000);
    },
    stop,
  };
}

/**
 * A window in which a login that retries would have retried: a sibling with the same backoff on a
 * port nothing listens on fails `attempts` times (its second try comes 0.5 s to 1 s after its first,
 * its third 1 s to 2 s after that).
 */
async function retryWindow(t: TestContext, attempts = 3): Promise<void> {
  const port = await freePort();
  const witness = driven(t, { service: `xmpp://127.0.0.1:${port}` });
  witness.account.start();
  let from = 0;
  for (let i = 0; i < attempts; i++) from = (await witness.seen.next(/^condition connect cannot reach the XMPP server: connection refused .*; retrying with backoff$/, from)).index + 1;
  await witness.account.stop();
}

/** Waits until `seen` shows `account` online; returns the line's index. */
async function online(d: Driven, from = 0): Promise<number> {
  return (await d.seen.next(/^online /, from)).index;
}

test('account: password, then online with its full JID; a connection the server ends is offline with the reason, then online again after backoff under the same JID', async (t) => {
  const d = driven(t);
  const { account, seen } = d;
  assert.match(account.resource, /^grd-[0-9a-f]{8}$/);
  const full = `${ME}/${account.resource}`;
  account.start();
  const up = await online(d);
  assert.deepEqual(
    seen.items.filter((l) => !l.startsWith('changed') && !l.startsWith('log')),
    ['password', `passwordResult ${PASSWORD} true`, 'condition connect (cleared)', 'condition login (cleared)', 'condition tls (cleared)', `online ${full} peers=0`],
  );
  assert.equal(account.state, 'online');
  assert.equal(account.fullJid, full);
  assert.equal(account.problem, undefined);

  // The server goes away under the login (and comes back even if an assertion fails: the other tests share it).
  await server.stop();
  let down;
  try {
    down = await seen.next(/^offline /, up);
    assert.equal(down.item, 'offline backoff');
    assert.equal(account.fullJid, undefined);
    const retry = await seen.next(/^log logging in again in /, down.index);
    assert.equal(seen.items[retry.index - 1], 'log the connection to the server ended', 'the reason, said before the retry');
    const delay = Number(/in ([\d.]+) s$/.exec(retry.item)![1]);
    assert.ok(delay >= 0.5 && delay <= 1, `the first retry after a short login comes in 0.5 s to 1 s: ${retry.item}`);
    // Until the next login, status says why: the loss, or by now the retry that found nobody listening.
    assert.match(account.problem ?? '', /^(the connection to the server ended|cannot reach the XMPP server: connection refused \(ECONNREFUSED .*\))$/);
  } finally {
    await server.start();
  }
  const again = await online(d, down.index);
  assert.equal(seen.items[again], `online ${full} peers=0`, 'the same resource: the new session takes the old address');
  assert.deepEqual(
    seen.items.filter((l) => /^(online|offline) /.test(l)),
    [`online ${full} peers=0`, 'offline backoff', `online ${full} peers=0`],
  );
  assert.equal(account.problem, undefined);
  // Attempts while the server was down never got as far as the password.
  assert.equal(seen.count(/^password$/), 2);
  assert.equal(seen.count(new RegExp(`^passwordResult ${PASSWORD} true$`)), 2);
});

test('account: a wrong password is said once as a login problem for the user, reported refused, and not retried while a sibling retries three times; RESUME with the right one logs in', async (t) => {
  const d = driven(t, {}, 'not the password');
  const { account, seen } = d;
  account.start();
  const refused = await seen.next(/^condition \w+ (?!\(cleared\))/);
  assert.equal(refused.item, 'condition login the server refused the login (not-authorized); not retrying until RESUME or RELOAD');
  assert.equal(seen.count(/^passwordResult not the password false$/), 1, 'git\'s credential helpers are told to forget it');
  assert.equal(account.state, 'waiting');
  assert.match(account.problem ?? '', /not-authorized/);

  await retryWindow(t);
  const since = refused.index + 1;
  assert.equal(seen.count(/^password$/), 1, `one attempt in all:\n${seen.items.join('\n')}`);
  assert.equal(seen.count(/^(changed connecting|log logging in again)/, since), 0, seen.items.join('\n'));
  assert.equal(account.state, 'waiting');

  d.password.value = PASSWORD;
  account.retryNow();
  const up = await online(d, since);
  assert.equal(seen.count(/^password$/), 2);
  assert.equal(seen.count(new RegExp(`^passwordResult ${PASSWORD} true$`), since), 1);
  assert.ok(seen.count(/^condition login \(cleared\)$/, since) === 1, 'the login problem is cleared once logged in');
  assert.ok(seen.items.indexOf('condition login (cleared)', since) < up);
});

test('account: send() reaches the announced daemons of our account and of trusted ones that admits() lets through, returns how many, and never a chat client', async (t) => {
  // Our other daemon and a chat client of our account are online before we log in; so is a daemon of
  // the work account, which grants us the subscription our login asks for.
  const [ours, chat, work] = await Promise.all([peer(t, 'me', 'daemon'), peer(t, 'me', 'chat'), peer(t, 'work', 'daemon', ME)]);
  const d = driven(t);
  const { account, seen } = d;
  account.trust([WORK, ME]);
  account.start();
  const up = await online(d);
  // (The work daemon may or may not be known yet: it answers our subscription request meanwhile.)
  const known = seen.items.indexOf(`log ${ours.jid} listens for notices`);
  assert.ok(known >= 0 && known < up, `our own daemons already online are known by the time it says online:\n${seen.items.join('\n')}`);
  await seen.next(new RegExp(`^log ${escape(work.jid)} listens for notices$`));
  assert.equal(account.peerCount, 2, 'our daemon and the work daemon; not the chat client');

  const asked: string[] = [];
  assert.equal(
    account.send('one', (who) => (asked.push(who), true)),
    2,
  );
  assert.deepEqual(asked.sort(), [ME, WORK], 'admits() is asked about bare accounts');
  assert.equal(account.send('two', (who) => who === ME), 1);
  assert.equal(account.send('three', () => true), 2);
  await ours.seen.next(/ three$/);
  await work.seen.next(/ three$/);
  const from = `${ME}/${account.resource}`;
  assert.deepEqual(ours.seen.items.filter((l) => l.startsWith('notice')), [`notice ${from} one`, `notice ${from} two`, `notice ${from} three`]);
  assert.deepEqual(work.seen.items.filter((l) => l.startsWith('notice')), [`notice ${from} one`, `notice ${from} three`], 'what admits() refused never went');
  // Anything sent to the chat client would have reached it before the answer to a later ping.
  await chat.fence();
  assert.equal(chat.seen.count(/^notice /), 0, chat.seen.items.join('\n'));

  // A daemon that goes is no longer addressed.
  const mark = seen.items.length;
  await ours.stop();
  await seen.next(new RegExp(`^log ${escape(ours.jid)} stopped listening$`), mark);
  assert.equal(account.send('four', () => true), 1);
  await work.seen.next(/ four$/);
});

test('account: trust() is live: an account added is asked and heard at once; removed, it is no longer heard and its daemons leave the count; added again, heard again', async (t) => {
  const [ours, ops] = await Promise.all([peer(t, 'me', 'quiet'), peer(t, 'ops', 'daemon', ME)]);
  const d = driven(t);
  const { account, seen } = d;
  account.start();
  await online(d);
  assert.equal(account.peerCount, 0);

  const added = seen.items.length;
  account.trust([OPS]);
  assert.ok(seen.items.slice(added).includes(`log hears 1 other account(s): ${OPS} (what its repositories trust)`), seen.items.join('\n'));
  // It asked at once: the ops daemon granted, and the server told us about it.
  await seen.next(new RegExp(`^log ${escape(ops.jid)} listens for notices$`), added);
  assert.equal(account.peerCount, 1);
  await ops.notice(`${ME}/${account.resource}`, 'heard');
  await seen.next(new RegExp(`^notice ${escape(OPS)} heard$`), added);

  const removed = seen.items.length;
  const skippedBefore = account.skippedTotal;
  account.trust([]);
  assert.equal(account.peerCount, 0, 'its daemons are forgotten at once');
  assert.ok(seen.items.slice(removed).includes('changed online peers=0'), 'and status is told');
  assert.equal(account.send('nobody', () => true), 0);
  await ops.notice(`${ME}/${account.resource}`, 'unheard');
  await ops.fence();
  // A notice from our own account sent after it comes after it.
  await ours.notice(`${ME}/${account.resource}`, 'later');
  await seen.next(new RegExp(`^notice ${escape(ME)} later$`), removed);
  assert.equal(seen.count(/^notice \S+ unheard$/), 0, seen.items.join('\n'));
  assert.ok(account.skippedTotal > skippedBefore, 'it was skipped unread');

  // Trusted again: the server still holds the subscription, and answers our request with its presence.
  const again = seen.items.length;
  account.trust([OPS]);
  await seen.next(new RegExp(`^log ${escape(ops.jid)} listens for notices$`), again);
  assert.equal(account.peerCount, 1);
  assert.equal(account.send('back', () => true), 1);
  await ops.seen.next(/ back$/);
});

test('account: a stranger\'s notices, presence and subscription request are skipped unread, counted and said in the log; it never becomes a peer', async (t) => {
  const [ours, mallory] = await Promise.all([peer(t, 'me', 'quiet'), peer(t, 'mallory', 'quiet')]);
  const d = driven(t);
  const { account, seen } = d;
  account.trust([WORK]);
  account.start();
  const up = await online(d);
  const target = `${ME}/${account.resource}`;
  await mallory.x.send(xml('presence', { to: ME, type: 'subscribe' }));
  await mallory.x.send(xml('presence', { to: target }, xml('priority', {}, '-1'), xml('notices', { xmlns: NOTICE_NS })));
  await mallory.notice(target, 'evil-1');
  await mallory.notice(target, 'evil-2');
  await mallory.fence();
  await ours.notice(target, 'ours');
  await seen.next(new RegExp(`^notice ${escape(ME)} ours$`), up);
  assert.equal(seen.count(/^notice /), 1, seen.items.join('\n'));
  assert.equal(account.peerCount, 0, 'its presence with our marker made it no peer');
  assert.ok(account.skippedTotal >= 4, `subscribe, presence and two notices skipped: ${account.skippedTotal}`);
  // Said as a count, not a line each: the first at once, the rest when the login ends (or a minute on).
  await account.stop();
  const said = seen.items.filter((l) => l.startsWith('log skipped unread: '));
  assert.equal(said.length, 2, seen.items.join('\n'));
  assert.equal(
    said.reduce((sum, l) => sum + Number(/: (\d+) from accounts not trusted/.exec(l)?.[1] ?? NaN), 0),
    account.skippedTotal,
    said.join('\n'),
  );
  assert.match(said[1]!, new RegExp(`\\(last: "${escape(mallory.jid)}"\\)$`));
  assert.notEqual(server.roster('mallory')[ME], 'to', 'nor granted a subscription');
});

test('account: pause() goes offline and stays so while a sibling retries three times; retryNow() logs in again, knowing our daemons at once', async (t) => {
  const ours = await peer(t, 'me', 'daemon');
  const d = driven(t);
  const { account, seen } = d;
  account.start();
  const up = await online(d);
  assert.match(seen.items[up]!, / peers=1$/);
  const full = `${ME}/${account.resource}`;
  await ours.seen.next(new RegExp(`^presence ${escape(full)} available$`));

  const paused = seen.items.length;
  account.pause();
  // The state, then the count of other daemons (emptied), then offline; no longer "cannot reach".
  assert.deepEqual(seen.items.slice(paused).filter((l) => !l.startsWith('log')), [
    'changed paused peers=0',
    'changed paused peers=0',
    'offline paused',
    'condition connect (cleared)',
    'changed paused peers=0',
  ]);
  assert.equal(account.state, 'paused');
  assert.equal(account.fullJid, undefined);
  assert.equal(account.problem, undefined, 'paused is not a failure to reach the server');
  assert.equal(account.send('lost', () => true), 0, 'nothing is sent while paused');
  // The server has ended the session: the other daemon hears it go.
  await ours.seen.next(new RegExp(`^presence ${escape(full)} unavailable$`));

  await retryWindow(t);
  assert.equal(account.state, 'paused');
  assert.equal(seen.count(/^(password|changed connecting|online |log logging in again)/, paused), 0, seen.items.join('\n'));

  account.retryNow();
  const back = await online(d, paused);
  assert.equal(seen.items[back], `online ${full} peers=1`);
  assert.equal(account.send('resumed', () => true), 1);
  await ours.seen.next(/ resumed$/);
  assert.equal(ours.seen.count(/ lost$/), 0);
});

test('account: stop() says offline, ends the session and leaves no socket or timer behind; retryNow() after it does nothing', async (t) => {
  // What a login holds (its socket, TLS, timers); the harness's child processes come and go on their own.
  const resources = () => process.getActiveResourcesInfo().filter((r) => ['TCPSocketWrap', 'TLSWrap', 'Timeout'].includes(r)).sort();
  const beforeStart = resources();
  const d = driven(t);
  const { account, seen } = d;
  account.start();
  const up = await online(d);
  assert.notDeepEqual(resources(), beforeStart, 'a login holds a socket and its ping timer');
  await account.stop();
  assert.deepEqual(seen.items.slice(up + 1).filter((l) => !l.startsWith('log')), ['changed stopped peers=0', 'offline stopped']);
  assert.equal(account.state, 'stopped');
  account.retryNow();
  assert.equal(account.state, 'stopped');
  assert.equal(seen.count(/^password$/), 1);
  assert.deepEqual(resources(), beforeStart);
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
