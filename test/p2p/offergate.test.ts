// The offer gate's rules on a fake clock: the bucket, waiting for the session an offer causes,
// no second fetch for a value a session did not deliver, and the hold-off a liar earns.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBuckets } from '../../workers/tokenbucket.js';
import { OfferGate } from '../../workers/p2p/offers.js';

function gate(t: TestContext) {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  const forwarded: [string, string][][] = [];
  const logs: string[] = [];
  const g = new OfferGate({
    key: 'k',
    buckets: new TokenBuckets({ burst: 2, refillMs: 1000, maxSenders: 4 }),
    refillMs: 1000,
    forward: (refs) => forwarded.push(refs),
    log: (text) => logs.push(text),
  });
  return { g, forwarded, logs };
}

test('an undelivered value is not passed on again until the peer\'s refs change; a liar waits, doubling', (t) => {
  const { g, forwarded, logs } = gate(t);
  const tick = (ms: number) => t.mock.timers.tick(ms);
  g.offer([['refs/heads/main', 'a'.repeat(40)]]);
  assert.equal(forwarded.length, 1);
  const judged = g.sessionStarted();
  g.offer([['refs/heads/main', 'b'.repeat(40)]]); // while the session runs: waits
  assert.equal(forwarded.length, 1);
  g.sessionEnded(judged, () => 'c'.repeat(40)); // delivered neither
  assert.match(logs.at(-1)!, /wait 1 s/);
  tick(999);
  assert.equal(forwarded.length, 1);
  tick(1);
  assert.deepEqual(forwarded[1], [['refs/heads/main', 'b'.repeat(40)]]);
  g.sessionEnded(g.sessionStarted(), () => 'c'.repeat(40));
  assert.match(logs.at(-1)!, /wait 2 s/);
  g.offer([['refs/heads/main', 'a'.repeat(40)]]); // a value a session did not deliver
  assert.match(logs.at(-1)!, /not fetched again/);
  tick(5000);
  assert.equal(forwarded.length, 2);
  g.refsChanged();
  g.offer([['refs/heads/main', 'a'.repeat(40)]]);
  assert.equal(forwarded.length, 3);
});

test('the same undelivered value offered again while its session runs is a repeat, not passed on after the hold', (t) => {
  const { g, forwarded, logs } = gate(t);
  const bogus = 'b'.repeat(40);
  g.offer([['refs/heads/main', bogus]]);
  const judged = g.sessionStarted();
  for (let i = 0; i < 10; i++) g.offer([['refs/heads/main', bogus]]); // heard before the session is judged
  g.sessionEnded(judged, () => 'c'.repeat(40));
  assert.ok(logs.some((l) => /not fetched again/.test(l)), logs.join('\n'));
  t.mock.timers.tick(10_000);
  assert.equal(forwarded.length, 1, 'no second fetch of the value the first did not deliver');
});

test('a deletion that the fetch carried out (our tracking ref gone) is delivered: no hold-off', (t) => {
  const { g, forwarded, logs } = gate(t);
  g.offer([['refs/heads/topic', '0'.repeat(40)]]);
  g.sessionEnded(g.sessionStarted(), () => undefined);
  assert.ok(!logs.some((l) => /delivered none/.test(l)), logs.join('\n'));
  g.offer([['refs/heads/main', '1'.repeat(40)]]);
  assert.equal(forwarded.length, 2, 'the next offer goes through at once');
});

test('a delivered offer earns no wait; over the bucket, offers wait for the next token, the latest value per ref', (t) => {
  const { g, forwarded } = gate(t);
  const tick = (ms: number) => t.mock.timers.tick(ms);
  for (const v of ['1', '2', '3']) {
    g.offer([['refs/heads/main', v.repeat(40)]]);
    const judged = g.sessionStarted();
    g.sessionEnded(judged, (ref) => judged.get(ref)); // delivered
  }
  assert.equal(forwarded.length, 2); // the bucket held two tokens
  g.offer([['refs/heads/main', '4'.repeat(40)]]);
  tick(1000);
  assert.deepEqual(forwarded[2], [['refs/heads/main', '4'.repeat(40)]]);
});
