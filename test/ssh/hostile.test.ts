// Misbehaving servers against the ssh transport, with real processes: a real sshd, notifier
// stand-ins that flood, never end a line, or go quiet, our own notifier frozen with SIGSTOP, and a
// link that stalls (every server process of the connection frozen). Each costs only itself: bounded
// memory, one WARNING, and the remote keeps being watched (by polling over the same connection).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keepaliveTiming } from '../../workers/ssh/connect.js';
import { settingsFromSshG } from '../../workers/ssh/config.js';
import { push } from './fixture.js';
import { connect, fixture, Recorder, serverProcesses, sshFor, waitFor } from './support.js';

const SHA = 'a'.repeat(40);
const FAST = { pollIntervalSeconds: 0.2 };

test('a notifier that floods garbage after READY: cut off within a few lines, one WARNING, polled instead', async (t) => {
  const fx = await fixture(t, { serverBin: { shims: { 'garbage-notifier': "#!/bin/sh\necho READY\nexec yes 'not a notifier line'\n" } } });
  const before = process.memoryUsage().rss;
  const { connection, events } = await connect(t, fx, { notifier: 'garbage-notifier', ...FAST });
  await waitFor('the notifier given up on', () => events.logs.some((l) => /^watching: polling/.test(l)));
  assert.equal(events.warnings.length, 1, events.warnings.join(' | '));
  assert.match(events.warnings[0]!, /not READY or CHANGED/);
  await waitFor('the flooding notifier gone from the server', async () => (await serverProcesses('yes not a notifier line')).length === 0, 5000);
  const sha = push(fx);
  await waitFor('a polled change', () => events.seen().has(sha));
  assert.equal(events.warnings.length, 1, 'still one warning');
  assert.ok(process.memoryUsage().rss - before < 50 * 1024 * 1024, 'memory stayed bounded');
  let settled = false;
  connection.done.then(() => (settled = true), () => (settled = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(settled, false, 'the connection itself is kept');
});

test('a notifier that floods valid CHANGED lines is cut off as a protocol failure', async (t) => {
  const fx = await fixture(t, { serverBin: { shims: { 'changed-flood': `#!/bin/sh\necho READY\nexec yes 'CHANGED ${SHA}'\n` } } });
  const { events } = await connect(t, fx, { notifier: 'changed-flood', ...FAST });
  await waitFor('the flood cut off', () => events.warnings.some((w) => /floods/.test(w)));
  // The burst, and what the rate refilled while it was read.
  assert.ok(events.changes.length <= 2100, `${events.changes.length} notices passed on`);
  const passed = events.changes.length;
  const sha = push(fx);
  await waitFor('a polled change', () => events.seen().has(sha));
  assert.ok(events.changes.filter((c) => c.kind === 'shas').length <= passed, 'nothing more read from it');
});

test('an endless notifier line: a protocol failure with bounded memory, and the remote is polled instead', async (t) => {
  const fx = await fixture(t, { serverBin: { shims: { 'endless-notifier': '#!/bin/sh\necho READY\nyes x | tr -d "\\n"\n' } } });
  const before = process.memoryUsage().rss;
  const { events } = await connect(t, fx, { notifier: 'endless-notifier', ...FAST });
  await waitFor('the warning', () => events.warnings.some((w) => /longer than/.test(w)));
  assert.ok(process.memoryUsage().rss - before < 100 * 1024 * 1024, 'memory stayed bounded');
  await waitFor('the endless notifier gone from the server', async () => (await serverProcesses('endless-notifier')).length === 0, 10_000);
  const sha = push(fx);
  await waitFor('a polled change', () => events.seen().has(sha));
  assert.equal(events.warnings.length, 1);
});

test('our notifier answers PING; frozen after READY it is a WARNING and the remote is polled over the same connection', async (t) => {
  const fx = await fixture(t);
  // Its PINGs ride the keepalive's turns (workers/ssh/notifierrules.ts): a keepalive every second
  // gives them a turn every second, as the default gives one every 16 s.
  const sshCommand = `${fx.sshd.sshCommand} -o ServerAliveInterval=1`;
  const { connection, events } = await connect(t, fx, { ...FAST, sshCommand }, { pingEveryMs: 200, pongTimeoutMs: 1500 });
  await waitFor('the first PONG', () => events.logs.includes('watching: notifier (answers PING)'));
  assert.deepEqual(events.warnings, []);
  const frozen = await serverProcesses(`notifychanges.*${fx.remotePath}`);
  assert.ok(frozen.length > 0);
  for (const pid of frozen) process.kill(pid, 'SIGSTOP');
  t.after(() => frozen.forEach((pid) => tryKill(pid, 'SIGCONT')));
  await waitFor('the wedged notifier noticed', () => events.warnings.some((w) => /stopped answering/.test(w)), 10_000);
  const sha = push(fx); // the frozen notifier cannot report it: polling must
  await waitFor('a polled change', () => events.seen().has(sha));
  assert.equal(events.warnings.length, 1);
  let settled = false;
  connection.done.then(() => (settled = true), () => (settled = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(settled, false, 'the connection itself is kept');
});

test('a notifier that says READY and then nothing (never answers PING): no WARNING, said once, and a listing finds the push it never reports', async (t) => {
  const fx = await fixture(t, { serverBin: { shims: { 'mute-notifier': '#!/bin/sh\necho READY\nexec cat >/dev/null\n' } } });
  const events = new Recorder();
  const transport = sshFor(fx, { notifier: 'mute-notifier', pollIntervalSeconds: 0.5 }, { firstPongMs: 300, pingEveryMs: 100, pongTimeoutMs: 300 });
  for (let round = 1; round <= 2; round++) {
    const connection = await transport.connect(events, new AbortController().signal);
    t.after(() => connection.close());
    await waitFor('the first PING unanswered', () => events.logs.filter((l) => /^watching: notifier \(does not answer PING\), and listing every 0.5 s$/.test(l)).length === round);
    const sha = push(fx); // the mute notifier never reports it: only the safety-net listing can
    await waitFor('the push found by listing', () => events.seen().has(sha));
    await connection.close();
  }
  assert.deepEqual(events.warnings, [], 'git-annex-shell is legitimate: no WARNING');
  assert.equal(events.logs.filter((l) => /does not answer PING \(git-annex-shell does not\)/.test(l)).length, 1, 'said once, not per connection');
});

test('our notifier answers the first PING: no safety-net listing beside it', async (t) => {
  const fx = await fixture(t);
  const { connection, events } = await connect(t, fx, { pollIntervalSeconds: 1 }, { firstPongMs: 5000 });
  await waitFor('the first PONG', () => events.logs.includes('watching: notifier (answers PING)'));
  // Proving an absence: a poll interval and a half, in which a safety-net listing (every 1 s) would
  // have reported every ref. Nothing else could signal that no listing runs.
  await new Promise((r) => setTimeout(r, 1500));
  assert.deepEqual(events.changes, []);
  assert.ok(!events.logs.some((l) => /listing every/.test(l)));
  await connection.close();
});

test('a stalled link (every server process frozen) is noticed by keepalive and reported as a stall', async (t) => {
  const fx = await fixture(t);
  const { connection } = await connect(t, fx, { sshCommand: `${fx.sshd.sshCommand} -o ServerAliveInterval=1` });
  const frozen = fx.sshd.freezeConnections();
  t.after(() => fx.sshd.thaw(frozen));
  const started = Date.now();
  // The ping goes on the 1 s grid (0.4 to 1 s of silence), its answer is awaited 2 s: 2 to 3 s in all.
  await assert.rejects(connection.done, /stalled: nothing heard for [23] s \(no answer within 2 s to a keepalive\)/);
  const took = Date.now() - started;
  assert.ok(took >= 1500 && took <= 4500, `noticed after ${took} ms`);
});

test('by default a stall is noticed within 19 s: a keepalive after 16 s of silence, 3 s for its answer', () => {
  const s = settingsFromSshG('hostname h\nport 22\nuser u\nserveraliveinterval 0\nserveralivecountmax 3\n', 'h', {});
  const { quietMs, answerMs } = keepaliveTiming(s);
  // Worst case: the link stalls right after the last thing heard.
  assert.equal(quietMs + answerMs, 19_000);
  assert.ok(quietMs >= 5 * answerMs, 'the interval takes most of the budget: fewer wake-ups per idle remote');
});

function tryKill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // gone
  }
}

