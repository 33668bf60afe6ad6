// workers/notice/hub.ts: the hub's routing of change notices (known URL nudged, unknown ignored,
// own fetch of heard news not announced again, catch-up to every remote). The notice's format (URL
// spelling, decoding) is tested in format.test.ts, the per-sender rate in
// test/workers/tokenbucket.test.ts. Audiences: XMPP's per-repository trust (workers/xmpp/trust.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { decodeNotice } from '../../workers/notice/format.js';
import { NoticeHub } from '../../workers/notice/hub.js';
import { TrustAudience, trustFrom, union } from '../../workers/xmpp/trust.js';

const SHA = 'a'.repeat(40);

interface Remote {
  port: MessagePort;
  heard: unknown[];
  other: MessagePort;
}

function remote(): Remote {
  const { port1, port2 } = new MessageChannel();
  const heard: unknown[] = [];
  port2.on('message', (m) => m !== 'marker' && heard.push(m));
  return { port: port1, heard, other: port2 };
}

/** Both directions of every channel drained: a marker sent behind each message has arrived. */
function drained(...remotes: Remote[]): Promise<unknown> {
  const through = (from: MessagePort, to: MessagePort) =>
    new Promise<void>((resolve) => {
      const on = (m: unknown) => m === 'marker' && (to.off('message', on), resolve());
      to.on('message', on);
      from.postMessage('marker');
    });
  return Promise.all(remotes.flatMap((r) => [through(r.port, r.other), through(r.other, r.port)]));
}

test('the hub nudges remotes of the notice\'s URL only, defers what is over the rate, and does not echo what it heard', async (t) => {
  let now = 1_000_000;
  // The bucket's clock stands still (no token comes back); the deferred nudge runs on a real timer.
  const hub = new NoticeHub({ log: () => {}, bucket: { burst: 2, refillMs: 30, maxSenders: 8 }, now: () => now });
  t.after(() => hub.stop());
  const origin = remote();
  const mirror = remote();
  const other = remote();
  const peer = remote();
  t.after(() => [origin, mirror, other, peer].forEach((r) => (r.port.close(), r.other.close())));
  hub.attach('origin', 'git@github.com:a/b.git', origin.port);
  hub.attach('mirror', 'https://github.com/a/b', mirror.port);
  hub.attach('other', 'https://github.com/x/y', other.port);
  hub.attach('peer', 'p2p://' + 'y'.repeat(52), peer.port); // no shareable URL: never a notice's
  const sent: string[] = [];
  hub.setCarrier({ send: (encoded) => (sent.push(encoded), 1) });

  hub.hear('me@example.org', { url: 'github.com/a/b', refs: [['refs/heads/main', SHA]] });
  await drained(origin, mirror, other);
  assert.equal(origin.heard.length, 1);
  assert.equal(mirror.heard.length, 1, 'every remote of that URL looks');
  assert.equal(other.heard.length, 0);
  hub.hear('me@example.org', { url: 'unknown.example/z', refs: [] });
  assert.equal(hub.facts.ignored, 1);
  const owed = new Promise((resolve) => origin.other.on('message', (m: { why?: string }) => m.why === 'notices over the rate limit' && resolve(m)));
  for (let i = 0; i < 100; i++) hub.hear('me@example.org', { url: 'github.com/a/b', refs: [] });
  await drained(origin, mirror, other);
  assert.equal(origin.heard.length, 2, 'the burst\'s last token, then over the limit: no listing now');
  assert.equal(hub.facts.limited, 99);
  await owed;
  await drained(origin, mirror, other);
  assert.deepEqual([origin.heard.length, mirror.heard.length, other.heard.length], [3, 3, 0], 'but one later, for the whole flood: nothing is lost');

  // Our fetch of what we were told moves our tracking ref: no notice about it.
  origin.other.postMessage({ type: 'moved', refs: [['refs/heads/main', SHA]] });
  await drained(origin, mirror, other);
  assert.equal(sent.length, 0);
  origin.other.postMessage({ type: 'moved', refs: [['refs/heads/main', 'b'.repeat(40)]] });
  await drained(origin, mirror, other);
  assert.equal(sent.length, 1);
  assert.deepEqual(decodeNotice(sent[0]!), { url: 'github.com/a/b', refs: [['refs/heads/main', 'b'.repeat(40)]] });
  now += 61_000;
  origin.other.postMessage({ type: 'moved', refs: [['refs/heads/main', SHA]] });
  await drained(origin, mirror, other);
  assert.equal(sent.length, 2, 'what was heard long ago is news again');

  // Moved while the carrier was down: said once it is back up, the latest value per ref.
  hub.setCarrier(undefined);
  origin.other.postMessage({ type: 'moved', refs: [['refs/heads/main', 'c'.repeat(40)]] });
  origin.other.postMessage({ type: 'moved', refs: [['refs/heads/main', 'd'.repeat(40)]] });
  await drained(origin, mirror, other);
  assert.equal(sent.length, 2);
  hub.setCarrier({ send: (encoded) => (sent.push(encoded), 1) });
  assert.equal(sent.length, 3);
  assert.deepEqual(decodeNotice(sent[2]!)!.refs, [['refs/heads/main', 'd'.repeat(40)]]);

  hub.catchUp('back');
  await drained(origin, mirror, other, peer);
  assert.deepEqual([origin.heard.length, mirror.heard.length, other.heard.length], [4, 4, 1], 'a catch-up reaches every remote a notice could be about');
  assert.equal(peer.heard.length, 0, "a peer's own transport catches up by itself: no nudge that could race a fetch");
});

test('remotes of repositories that trust differently: a notice nudges only those whose repository trusts its sender, and each one\'s news goes only to its own audience', async (t) => {
  const ours = () => 'me@example.org';
  const changes: number[] = [];
  const hub: NoticeHub<TrustAudience> = new NoticeHub({
    log: () => {},
    audience: (own) => new TrustAudience(trustFrom(own), ours),
    audiencesChanged: () => changes.push(union(hub.audiences()).size),
  });
  t.after(() => hub.stop());
  const one = remote();
  const two = remote();
  t.after(() => [one, two].forEach((r) => (r.port.close(), r.other.close())));
  // Two repositories with a clone of the same repository: one trusts alice, the other bob.
  hub.attach('origin in /one', 'https://github.com/a/b', one.port, { trust: ['alice@example.org'] });
  hub.attach('origin in /two', 'https://github.com/a/b', two.port, { trust: ['bob@example.org', 'not a jid', 7] });
  assert.deepEqual([...union(hub.audiences())].sort(), ['alice@example.org', 'bob@example.org'], 'the login hears both; nothing that is no account');
  const sent: { encoded: string; to: string[] }[] = [];
  const accounts = ['me@example.org', 'alice@example.org', 'bob@example.org', 'mallory@example.org'];
  hub.setCarrier({ send: (encoded, _url, audience) => (sent.push({ encoded, to: accounts.filter((a) => audience?.tells(a)) }), 1) });

  hub.hear('alice@example.org', { url: 'github.com/a/b', refs: [['refs/heads/main', SHA]] });
  await drained(one, two);
  assert.deepEqual([one.heard.length, two.heard.length], [1, 0], 'alice nudges only the repository that trusts her');
  hub.hear('bob@example.org', { url: 'github.com/a/b', refs: [] });
  await drained(one, two);
  assert.deepEqual([one.heard.length, two.heard.length], [1, 1], 'bob only the other');
  hub.hear('me@example.org', { url: 'github.com/a/b', refs: [] });
  await drained(one, two);
  assert.deepEqual([one.heard.length, two.heard.length], [2, 2], 'our own account\'s daemons are heard by every repository');

  // What alice said is not news to her audience, but it is to bob's: the other repository never heard it.
  one.other.postMessage({ type: 'moved', refs: [['refs/heads/main', SHA]] });
  two.other.postMessage({ type: 'moved', refs: [['refs/heads/main', SHA]] });
  await drained(one, two);
  assert.deepEqual(sent.map((s) => s.to), [['me@example.org', 'bob@example.org']]);
  one.other.postMessage({ type: 'moved', refs: [['refs/heads/main', 'b'.repeat(40)]] });
  await drained(one, two);
  assert.deepEqual(sent.at(-1)!.to, ['me@example.org', 'alice@example.org'], 'the first repository\'s news: never to bob');

  // Moved while the carrier was down: said once it is back, each to its own audience.
  hub.setCarrier(undefined);
  one.other.postMessage({ type: 'moved', refs: [['refs/heads/main', 'c'.repeat(40)]] });
  two.other.postMessage({ type: 'moved', refs: [['refs/heads/main', 'd'.repeat(40)]] });
  await drained(one, two);
  hub.setCarrier({ send: (encoded, _url, audience) => (sent.push({ encoded, to: accounts.filter((a) => audience?.tells(a)) }), 1) });
  assert.deepEqual(sent.slice(-2).map((s) => [decodeNotice(s.encoded)!.refs[0]![1], s.to]), [
    ['c'.repeat(40), ['me@example.org', 'alice@example.org']],
    ['d'.repeat(40), ['me@example.org', 'bob@example.org']],
  ]);

  // The repository that trusted bob is gone: nobody trusts him any more.
  hub.detach('origin in /two');
  assert.deepEqual([...union(hub.audiences())], ['alice@example.org']);
  assert.equal(changes.at(-1), 1, 'the carrier was told');
});
