// The DHT reachability watch against a fake DHT and mocked timers: when it probes, when it says
// "reachable", and that it costs nothing while the DHT answers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { watchReachability } from '../../workers/p2p/reach.js';

class FakeDht extends EventEmitter {
  nodes = { length: 0 };
  refreshes = 0;
  refresh(): void {
    this.refreshes++;
  }
  addNode(): void {
    this.nodes.length++;
    this.emit('add-node');
  }
  removeNode(): void {
    this.nodes.length--;
    this.emit('remove-node');
  }
}

test('isolated: probes at 1, 2, 4 s then every 5 s; the first node that answers says reachable once and ends the probes', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const dht = new FakeDht();
  let reachable = 0;
  let isolations = 0;
  const watch = watchReachability(dht, () => reachable++, { firstMs: 1000, maxMs: 5000 }, () => isolations++);
  assert.equal(watch.isolated, true);
  assert.equal(isolations, 1, 'isolated from the start: said at once');
  const probedAt: number[] = [];
  for (let s = 1; s <= 22; s++) {
    const before = dht.refreshes;
    t.mock.timers.tick(1000);
    if (dht.refreshes > before) probedAt.push(s);
  }
  assert.deepEqual(probedAt, [1, 3, 7, 12, 17, 22]);
  dht.addNode();
  dht.addNode();
  assert.equal(reachable, 1, 'said once');
  assert.equal(watch.isolated, false);
  const after = dht.refreshes;
  t.mock.timers.tick(60_000);
  assert.equal(dht.refreshes, after, 'no probe while the DHT answers');
  assert.equal(isolations, 1, 'said once, not per probe');
  watch.stop();
});

test('a DHT that answers from the start costs nothing; losing its last node starts probing again, a network change probes at once', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const dht = new FakeDht();
  dht.nodes.length = 5;
  let reachable = 0;
  let isolations = 0;
  const watch = watchReachability(dht, () => reachable++, { firstMs: 1000, maxMs: 5000 }, () => isolations++);
  watch.check(); // a dial failed, but the DHT answers: the peer is away, not the DHT
  t.mock.timers.tick(60_000);
  assert.equal(dht.refreshes, 0);
  assert.equal(isolations, 0);
  for (let i = 0; i < 5; i++) dht.removeNode();
  assert.equal(watch.isolated, true);
  assert.equal(isolations, 1, 'losing the last node is an isolation');
  t.mock.timers.tick(1000);
  assert.equal(dht.refreshes, 1);
  dht.emit('network-change');
  assert.equal(dht.refreshes, 2, 'at once after a network change');
  dht.addNode();
  assert.equal(reachable, 1);
  watch.stop();
  assert.equal(dht.listenerCount('add-node') + dht.listenerCount('remove-node') + dht.listenerCount('network-change'), 0, 'stop lets go of the DHT');
});
