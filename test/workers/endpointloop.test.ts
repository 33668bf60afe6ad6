// workers/endpointloop.ts: the one message loop of the shared endpoints, driven with fake ports, a
// fake carrier and a fake clock: no thread, socket or timer of its own.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MessagePort } from 'node:worker_threads';
import { EndpointLoop, type Carrier, type Clock, type EndpointSpec, type LoopPort } from '../../workers/endpointloop.js';
import type { ToEndpoint } from '../../shared/plugin.js';

class FakePort implements LoopPort {
  readonly sent: unknown[] = [];
  closed = false;
  private listener: ((message: unknown) => void) | undefined;
  postMessage(message: unknown): void {
    if (this.closed) throw new Error('port closed');
    this.sent.push(message);
  }
  on(_event: 'message', listener: (message: unknown) => void): this {
    this.listener = listener;
    return this;
  }
  close(): void {
    this.closed = true;
  }
  /** A message arriving on this port, as the other end would send it. */
  deliver(message: unknown): void {
    this.listener?.(message);
  }
}

/** Timers that fire only when the test moves time on. */
class FakeClock implements Clock {
  now = 0;
  private timers: { at: number; fn: () => void }[] = [];
  later(fn: () => void, ms: number): () => void {
    const timer = { at: this.now + ms, fn };
    this.timers.push(timer);
    return () => (this.timers = this.timers.filter((t) => t !== timer));
  }
  advance(ms: number): void {
    this.now += ms;
    const due = this.timers.filter((t) => t.at <= this.now);
    this.timers = this.timers.filter((t) => t.at > this.now);
    for (const t of due) t.fn();
  }
  get pending(): number {
    return this.timers.length;
  }
}

/** A carrier whose stops last until the test lets them end (or `kill` does). */
class FakeCarrier implements Carrier {
  readonly events: string[] = [];
  stopGraceMs?: number;
  private ends: (() => void)[] = [];
  start(): void {
    this.events.push('start');
  }
  stop(): Promise<void> {
    this.events.push('stop');
    return new Promise((resolve) => this.ends.push(resolve));
  }
  kill(): void {
    this.events.push('kill');
    this.end();
  }
  /** The carrier being stopped is gone. */
  end(): void {
    for (const end of this.ends.splice(0)) end();
  }
}

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function loopWith(spec: Partial<EndpointSpec<string>> = {}) {
  const coordinator = new FakePort();
  const carrier = new FakeCarrier();
  const clock = new FakeClock();
  const loop = new EndpointLoop<string>(coordinator, { carrier, link: (_, url) => url.toUpperCase(), clock, ...spec });
  const say = (message: ToEndpoint) => coordinator.deliver(message);
  const attach = (remote: string, url: string) => {
    const port = new FakePort();
    say({ type: 'attach', remote, url, port: port as unknown as MessagePort });
    return port;
  };
  return { loop, coordinator, carrier, clock, say, attach, done: loop.run() };
}

test('the carrier starts once; an attached remote is kept with its link, hears what it is told, is heard; detach closes its port', async () => {
  const heard: string[] = [];
  const detached: string[] = [];
  const l = loopWith({
    attached: (remote) => remote.tell(`hello ${remote.name}`),
    heard: (remote, message) => heard.push(`${remote.name}:${remote.link}:${String(message)}`),
    detached: (remote) => detached.push(remote),
  });
  const a = l.attach('a', 'url-a');
  const b = l.attach('b', 'url-b');
  await settle();
  assert.deepEqual(l.carrier.events, ['start']);
  assert.deepEqual(a.sent, ['hello a']);
  assert.deepEqual(
    l.loop.attached.map((r) => [r.name, r.link]),
    [
      ['a', 'URL-A'],
      ['b', 'URL-B'],
    ],
  );
  a.deliver('dial');
  assert.deepEqual(heard, ['a:URL-A:dial']);
  // Routed by link: only the remotes whose link matches hear it.
  l.loop.tell({ type: 'up' }, (remote) => remote.link === 'URL-B');
  l.loop.tell((remote) => ({ to: remote.name }));
  assert.deepEqual(a.sent, ['hello a', { to: 'a' }]);
  assert.deepEqual(b.sent, ['hello b', { type: 'up' }, { to: 'b' }]);
  l.say({ type: 'detach', remote: 'a' });
  await settle();
  assert.equal(a.closed, true);
  assert.deepEqual(detached, ['a']);
  assert.equal(l.loop.get('a'), undefined);
  assert.deepEqual(
    l.loop.attached.map((r) => r.name),
    ['b'],
  );
});

test('a remote attached again: the old port is closed and what arrives on it is no longer heard', async () => {
  const heard: string[] = [];
  const l = loopWith({ heard: (remote, message) => heard.push(`${remote.link}:${String(message)}`) });
  const first = l.attach('a', 'one');
  const second = l.attach('a', 'two');
  await settle();
  assert.equal(first.closed, true);
  first.deliver('late');
  second.deliver('now');
  assert.deepEqual(heard, ['TWO:now']);
});

test('notice links go to the hub, not among the remotes, and the hub stops before the carrier', async () => {
  const hub: string[] = [];
  const l = loopWith({
    notices: {
      attach: (remote, url) => hub.push(`attach ${remote} ${url}`),
      detach: (remote) => hub.push(`detach ${remote}`),
      stop: () => hub.push(`stop (carrier: ${l.carrier.events.join(',')})`),
    },
  });
  l.say({ type: 'attach', remote: 'a', url: 'u', port: new FakePort() as unknown as MessagePort, notices: true });
  l.say({ type: 'detach', remote: 'a', notices: true });
  l.say({ type: 'stop' });
  await settle();
  l.carrier.end();
  await l.done;
  assert.deepEqual(hub, ['attach a u', 'detach a', 'stop (carrier: start)']);
  assert.equal(l.loop.attached.length, 0);
});

test('messages are handled in order: one that waits holds back the next', async () => {
  let release!: () => void;
  const order: string[] = [];
  const l = loopWith({
    settings: () => {
      order.push('settings begun');
      return new Promise<void>((resolve) => (release = resolve)).then(() => void order.push('settings done'));
    },
    attached: (remote) => void order.push(`attached ${remote.name}`),
  });
  l.say({ type: 'settings', settings: {} });
  l.attach('a', 'u');
  await settle();
  assert.deepEqual(order, ['settings begun']);
  release();
  await settle();
  assert.deepEqual(order, ['settings begun', 'settings done', 'attached a']);
});

test('a restart stops the carrier and starts it once the old one is gone; asks meanwhile share it', async () => {
  const l = loopWith();
  await settle();
  const first = l.loop.restart();
  const second = l.loop.restart();
  assert.equal(first, second);
  await settle();
  assert.deepEqual(l.carrier.events, ['start', 'stop'], 'no new carrier while the old one is still there');
  l.carrier.end();
  await first;
  assert.deepEqual(l.carrier.events, ['start', 'stop', 'start']);
  // Once started again, a new ask is a new restart.
  const third = l.loop.restart();
  assert.notEqual(third, first);
  await settle();
  l.carrier.end();
  await third;
  assert.deepEqual(l.carrier.events, ['start', 'stop', 'start', 'stop', 'start']);
});

test('a carrier that does not stop within its grace is killed; one that does is not, and no timer is left', async () => {
  const l = loopWith();
  l.carrier.stopGraceMs = 800;
  await settle();
  const slow = l.loop.restart();
  await settle();
  l.clock.advance(799);
  assert.deepEqual(l.carrier.events, ['start', 'stop']);
  l.clock.advance(1);
  await slow;
  assert.deepEqual(l.carrier.events, ['start', 'stop', 'kill', 'start']);
  const quick = l.loop.restart();
  await settle();
  l.clock.advance(500);
  l.carrier.end();
  await quick;
  assert.equal(l.clock.pending, 0);
  l.clock.advance(10_000);
  assert.deepEqual(l.carrier.events, ['start', 'stop', 'kill', 'start', 'stop', 'start']);
});

test('a carrier with no grace is waited for however long it takes', async () => {
  const l = loopWith();
  await settle();
  const restart = l.loop.restart();
  await settle();
  l.clock.advance(3_600_000);
  assert.equal(l.clock.pending, 0);
  assert.deepEqual(l.carrier.events, ['start', 'stop']);
  l.carrier.end();
  await restart;
});

test('stop: the carrier stopped, then every port closed, and the task resolves; a restart under way starts nothing', async () => {
  let stoppedWith = '';
  const l = loopWith({ stopped: () => (stoppedWith = l.carrier.events.join(',')) });
  const a = l.attach('a', 'u');
  await settle();
  const restart = l.loop.restart();
  l.say({ type: 'stop' });
  await settle();
  l.carrier.end();
  await restart;
  await settle();
  l.carrier.end();
  await l.done;
  assert.deepEqual(l.carrier.events, ['start', 'stop', 'stop']);
  assert.equal(stoppedWith, 'start,stop,stop');
  assert.equal(a.closed, true);
  assert.equal(l.coordinator.closed, true);
  assert.equal(l.loop.attached.length, 0);
});

test('a failure ends the task with its error, but not once it is stopping; saying to a closed coordinator is no error', async () => {
  const failing = loopWith();
  failing.loop.fail(new Error('the carrier died'));
  await assert.rejects(failing.done, /the carrier died/);

  const stopping = loopWith();
  stopping.say({ type: 'stop' });
  await settle();
  stopping.loop.fail(new Error('its exit on the way out'));
  stopping.carrier.end();
  await stopping.done;
  stopping.loop.log('after the end');
});

test('a handler that throws fails the task: the supervisor restarts it rather than leave it deaf', async () => {
  const l = loopWith({
    control: () => {
      throw new Error('bad control');
    },
  });
  l.say({ type: 'control', what: 'reload' });
  await assert.rejects(l.done, /bad control/);
});

test('settings, control and changed reach the endpoint as they are', async () => {
  const got: unknown[] = [];
  const l = loopWith({
    settings: (s) => void got.push(s),
    control: (what) => got.push(what),
    changed: (refs) => got.push(refs),
  });
  l.say({ type: 'settings', settings: { tag: 1 } });
  l.say({ type: 'control', what: 'pause' });
  l.say({ type: 'changed', refs: ['refs/heads/main'] });
  await settle();
  assert.deepEqual(got, [{ tag: 1 }, 'pause', ['refs/heads/main']]);
});
