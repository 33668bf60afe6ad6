// The keepalive's logic against a fake ssh2 client over a real loopback TCP pair: pings only after
// silence, anything heard counts as an answer, a stall is called once and only when nothing came,
// and a late event-loop turn that had the answer waiting in the socket is no stall.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import type { Client } from 'ssh2';
import { nextPingAt, startKeepalive, type KeepaliveTiming } from '../../workers/ssh/keepalive.js';

interface Pair {
  /** Our end, which the keepalive watches. */
  ours: Socket;
  /** The server's end: what it writes is heard. */
  theirs: Socket;
}

async function socketPair(t: TestContext): Promise<Pair> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const accepted = once(server, 'connection');
  const ours = netConnect(port, '127.0.0.1');
  await once(ours, 'connect');
  const [theirs] = (await accepted) as [Socket];
  t.after(() => {
    ours.destroy();
    theirs.destroy();
    server.close();
  });
  return { ours, theirs };
}

/** An ssh2 client as far as the keepalive uses it; `answer` says what the "server" does with a ping. */
function fakeClient(pair: Pair, answer: 'reply' | 'ignore') {
  const pings: number[] = [];
  const callbacks: unknown[] = [];
  const client = {
    _callbacks: callbacks,
    _protocol: {
      ping() {
        pings.push(performance.now());
        // The reply consumes the placeholder, as ssh2's REQUEST_FAILURE handler does.
        if (answer === 'reply') pair.theirs.write('reply', () => callbacks.shift());
      },
    },
  };
  pair.ours.resume();
  return { client: client as unknown as Client, pings, callbacks };
}

/**
 * An observation window, for a claim that something does NOT happen in it (no ping while the server
 * chatters): there is no event for an absence, so the test watches for as long as the claim needs.
 */
const watchFor = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `condition` every few ms until it holds; fails naming `what` after `ms`. */
async function until(condition: () => boolean, what: string, ms = 5_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    assert.ok(performance.now() < deadline, `timed out after ${ms} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('an idle link that answers: a ping after each quiet interval, never a stall, no placeholder left behind', async (t) => {
  const pair = await socketPair(t);
  const { client, pings, callbacks } = fakeClient(pair, 'reply');
  const timing: KeepaliveTiming = { quietMs: 200, answerMs: 100 };
  let stalls = 0;
  const started = performance.now();
  const keepalive = startKeepalive(client, pair.ours, timing, () => stalls++);
  await until(() => pings.length >= 4, 'four pings (one per 200 ms quiet interval)', 3_000);
  keepalive.stop();
  assert.equal(stalls, 0);
  // On the grid (nextPingAt): the first after 0.4 to 1 quiet interval, the next at most half an
  // interval sooner than a full one (to reach the grid's full points), then one per interval.
  assert.ok(pings[0]! - started >= 0.4 * 200 - 10 && pings[0]! - started <= 200 + 50, `the first ${(pings[0]! - started).toFixed(0)} ms after the start`);
  assert.ok(pings[1]! - pings[0]! >= 100 - 10, `the second ${(pings[1]! - pings[0]!).toFixed(0)} ms after the first`);
  // Grid points are fixed in time: a late turn for one ping (a loaded machine) and a prompt one for
  // the next bring them closer than the interval, but never two to an interval.
  for (let i = 2; i < pings.length; i++) assert.ok(pings[i]! - pings[i - 1]! >= 140, `pings ${(pings[i]! - pings[i - 1]!).toFixed(0)} ms apart`);
  await until(() => callbacks.length === 0, "every placeholder consumed by its reply: ssh2's reply queue keeps its order", 1_000);
});

test('an idle link that answers wakes once per ping for its timer: the answer moves it to the next ping', async (t) => {
  const pair = await socketPair(t);
  const { client, pings } = fakeClient(pair, 'reply');
  // Count the keepalive's timer turns (its `tick`): each is a wake-up of an idle remote's thread.
  let ticks = 0;
  const realSetTimeout = globalThis.setTimeout;
  globalThis.setTimeout = ((fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) =>
    realSetTimeout((...a: unknown[]) => {
      if (fn.name === 'tick') ticks++;
      fn(...a);
    }, ms, ...args)) as typeof setTimeout;
  t.after(() => (globalThis.setTimeout = realSetTimeout));
  let stalls = 0;
  const keepalive = startKeepalive(client, pair.ours, { quietMs: 200, answerMs: 100 }, () => stalls++);
  await until(() => pings.length >= 4, 'four pings', 3_000);
  keepalive.stop();
  assert.equal(stalls, 0);
  // One turn per ping; checking the answer's deadline after the answer came would double it.
  assert.ok(ticks <= pings.length + 1, `${ticks} timer turns for ${pings.length} pings`);
});

test('while the server sends anything, no ping goes out', async (t) => {
  const pair = await socketPair(t);
  const { client, pings } = fakeClient(pair, 'reply');
  let stalls = 0;
  // A ping needs 0.4 of the quiet interval without a byte: 400 ms here, which a loaded machine's
  // stalled event loop does not reach, where 80 ms (quietMs 200) it sometimes did.
  const keepalive = startKeepalive(client, pair.ours, { quietMs: 1000, answerMs: 100 }, () => stalls++);
  const chatter = setInterval(() => pair.theirs.write('x'), 25);
  // Proving an absence: two quiet intervals' worth of chatter, in which an idle link would have pinged twice.
  await watchFor(2000);
  clearInterval(chatter);
  keepalive.stop();
  assert.deepEqual(pings, []);
  assert.equal(stalls, 0);
});

test('pings go on a wall-clock grid of the quiet interval, never later than a quiet interval after the last thing heard, and with at least 0.4 of it silent', () => {
  const Q = 16_000;
  assert.equal(nextPingAt(0, Q, 0), 16_000, 'heard on a grid point: the next one');
  assert.equal(nextPingAt(9_000, Q, 0), 16_000, '7 s of silence before the grid point is enough');
  assert.equal(nextPingAt(10_000, Q, 0), 24_000, '6 s is not: half an interval later, still within 16 s');
  assert.equal(nextPingAt(24_005, Q, 0), 32_000, 'the answer to a ping off the grid puts the next one back on it');
  assert.equal(nextPingAt(32_003, Q, 0), 48_000, 'on the grid, an idle link pings every quiet interval');
  // Threads have origins of their own: the grid is in wall-clock time, the same for all of them.
  assert.equal(nextPingAt(1_000, Q, 1_000_000_500) + 1_000_000_500, nextPingAt(1_300, Q, 1_000_000_200) + 1_000_000_200);
  for (let heard = 0; heard < 3 * Q; heard += 137) {
    const silence = nextPingAt(heard, Q, 0) - heard;
    assert.ok(silence >= 0.4 * Q && silence <= Q, `heard at ${heard}: pings ${silence} ms later`);
  }
});

test('two idle links whose keepalives started apart ping at the same moments', async (t) => {
  const timing: KeepaliveTiming = { quietMs: 200, answerMs: 100 };
  const start = async () => {
    const pair = await socketPair(t);
    const { client, pings } = fakeClient(pair, 'reply');
    const keepalive = startKeepalive(client, pair.ours, timing, () => assert.fail('no stall'));
    t.after(() => keepalive.stop());
    return pings;
  };
  const a = await start();
  // The second starts 70 ms later: the scenario (links that came up apart), not a wait for an event.
  await new Promise((r) => setTimeout(r, 70));
  const b = await start();
  await until(() => a.length >= 3 && b.length >= 3, 'three pings each', 3_000);
  const apart = Math.min(...b.map((at) => Math.abs(at - a.at(-1)!)));
  assert.ok(apart < 30, `the links' pings ${apart.toFixed(0)} ms apart`);
});

test('riders run in each ping turn of an idle link, and on a busy link (no pings) in a turn with data, at most once per quiet interval', async (t) => {
  const pair = await socketPair(t);
  const { client, pings } = fakeClient(pair, 'reply');
  const keepalive = startKeepalive(client, pair.ours, { quietMs: 200, answerMs: 100 }, () => assert.fail('no stall'));
  let chatter: NodeJS.Timeout | undefined;
  t.after(() => {
    clearInterval(chatter);
    keepalive.stop();
  });
  const rides: number[] = [];
  const unride = keepalive.onPing(() => rides.push(performance.now()));
  await until(() => pings.length >= 2, 'two pings of the idle link', 3_000);
  assert.equal(rides.length, pings.length, 'one ride per ping');
  const busyFrom = performance.now();
  const pingsBefore = pings.length;
  chatter = setInterval(() => pair.theirs.write('x'), 20);
  await until(() => rides.filter((at) => at > busyFrom).length >= 3, 'three rides while the server chatters', 3_000);
  clearInterval(chatter);
  unride();
  const busy = rides.filter((at) => at > busyFrom);
  assert.ok(pings.length <= pingsBefore + 1, `the busy link pinged ${pings.length - pingsBefore} times: its rides came with its data`);
  // Data every 20 ms, but a ride only once a quiet interval passed since the last one.
  for (let i = 1; i < busy.length; i++) assert.ok(busy[i]! - busy[i - 1]! >= 195, `rides ${(busy[i]! - busy[i - 1]!).toFixed(0)} ms apart`);
});

test('a ping that nothing answers: one stall, within quiet + answer of the last thing heard', async (t) => {
  const pair = await socketPair(t);
  const { client, pings } = fakeClient(pair, 'ignore');
  const stalls: number[] = [];
  pair.theirs.write('last words');
  await once(pair.ours, 'data');
  const heardAt = performance.now();
  startKeepalive(client, pair.ours, { quietMs: 300, answerMs: 200 }, () => stalls.push(performance.now()));
  await until(() => stalls.length > 0, 'the stall is called', 3_000);
  assert.equal(pings.length, 1, 'no second ping after the first went unanswered');
  // Proving an absence: a quiet interval and an answer window past the stall, no second stall or ping.
  await watchFor(300 + 200);
  assert.equal(pings.length, 1, 'no ping after the stall');
  assert.equal(stalls.length, 1);
  const took = stalls[0]! - heardAt;
  // The ping on the grid (nextPingAt) 0.4 to 1 quiet interval after the last thing heard, then the answer's window.
  assert.ok(took >= 0.4 * 300 + 200 - 20 && took <= 300 + 200 + 100, `stall called ${took.toFixed(0)} ms after the last thing heard`);
});

test('an answer already in the socket when a late turn reaches the deadline is no stall', async (t) => {
  // The server is another process, so its answer arrives while this thread is busy: it answers each
  // ping 50 ms late. The first ping is followed by a busy spell.
  const server = spawn(
    process.execPath,
    ['-e', "require('net').createServer((s) => s.on('data', () => setTimeout(() => s.write('r'), 50))).listen(0, '127.0.0.1', function () { console.log(this.address().port) })"],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.after(() => server.kill());
  const [line] = (await once(server.stdout!, 'data')) as [Buffer];
  const ours = netConnect(Number(String(line).trim()), '127.0.0.1');
  await once(ours, 'connect');
  t.after(() => ours.destroy());
  ours.resume();
  let pings = 0;
  const client = {
    _callbacks: [] as unknown[],
    _protocol: {
      ping() {
        ours.write('p');
        if (++pings > 1) return;
        // Busy from just after the ping (the check phase, after this turn's poll) until well past
        // its 100 ms deadline: the answer arrives meanwhile, and the next turn runs the deadline's
        // timer before it polls the socket.
        queueMicrotask(() =>
          setImmediate(() => {
            const until = performance.now() + 300;
            while (performance.now() < until);
          }),
        );
      },
    },
  } as unknown as Client;
  let stalls = 0;
  const keepalive = startKeepalive(client, ours, { quietMs: 100, answerMs: 100 }, () => stalls++);
  // The late turn (the first ping's deadline) is over once a second ping went out.
  await until(() => pings >= 2 || stalls > 0, 'a second ping after the late turn', 3_000);
  keepalive.stop();
  assert.equal(stalls, 0);
  assert.ok(pings >= 2, 'and the keepalive went on after the late turn');
});
