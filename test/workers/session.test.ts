// The session in this process against the in-memory fake transport: retries, RELOAD un-sticking a
// waiting remote, STOP racing a connect, lost connections, catch-up; each in milliseconds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Session } from '../../workers/session.js';
import { ProtocolGate } from '../../src/gate.js';
import { formatEmitted } from '../../src/protocol.js';
import type { FromWorker, SessionTask, ToWorker } from '../../shared/workerapi.js';
import { FakeRemote } from '../support/fake-transport.js';
import { git, makeFixture, pushCommit, refValue, type Fixture } from '../support/git.js';

type T = { after(fn: () => unknown): void };

function harness(t: T, setup?: (fx: Fixture, fake: FakeRemote) => void) {
  const fx = makeFixture();
  t.after(fx.cleanup);
  const fake = new FakeRemote(fx.remote);
  setup?.(fx, fake);
  const channel = new MessageChannel();
  const messages: FromWorker[] = [];
  const waiters = new Set<() => void>();
  channel.port1.on('message', (m: FromWorker) => {
    messages.push(m);
    for (const w of [...waiters]) w();
  });
  const task: SessionTask = {
    kind: 'session',
    spec: { name: 'origin', url: fx.remote, transport: 'fake', fetchRefspecs: ['+refs/heads/*:refs/remotes/origin/*'], options: {} },
    live: { pollIntervalSeconds: 60, reportUpdates: false },
    repo: { cwd: fx.local, gitDir: join(fx.local, '.git') },
    port: channel.port2,
    initialMode: 'running',
  };
  const session = new Session(task, fake.plugin);
  const running = session.run();
  const lines = () =>
    messages.flatMap((m) => (m.type === 'emit' ? [m.line === 'DONESYNCING' ? `DONESYNCING ${m.ok ? 1 : 0}` : m.line] : []));
  const warnings = () => messages.flatMap((m) => (m.type === 'condition' && m.text !== null ? [m.text] : []));
  const until = (what: string, predicate: () => boolean, timeoutMs = 5000) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; lines: ${lines().join(' | ')}`)), timeoutMs);
      const check = () => {
        if (!predicate()) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve();
      };
      waiters.add(check);
      check();
    });
  const send = (m: ToWorker) => channel.port1.postMessage(m);
  const stop = async () => {
    send({ type: 'stop' });
    await running;
  };
  t.after(async () => {
    send({ type: 'stop' });
    await running;
    channel.port1.close();
  });
  return { fx, fake, lines, warnings, until, send, stop, running, messages: () => messages };
}

const count = (lines: string[], line: string) => lines.filter((l) => l === line).length;

test('connects, catches up with what changed before, and fetches a reported change', async (t) => {
  const h = harness(t, (fx) => pushCommit(fx.pusher));
  await h.until('catch-up fetch', () => h.lines().includes('DONESYNCING 1'));
  assert.deepEqual(h.lines(), ['CONNECTED', 'SYNCING', 'DONESYNCING 1']);
  assert.equal(refValue(h.fx.local, 'refs/remotes/origin/main'), refValue(h.fx.remote, 'refs/heads/main'));
  const sha = pushCommit(h.fx.pusher);
  h.fake.connections[0]!.change({ kind: 'refs', refs: new Map([['refs/heads/main', sha]]) });
  await h.until('second fetch', () => count(h.lines(), 'DONESYNCING 1') === 2);
  assert.equal(refValue(h.fx.local, 'refs/remotes/origin/main'), sha);
  // A change that brings nothing new costs no fetch.
  h.fake.connections[0]!.change({ kind: 'refs', refs: new Map([['refs/heads/main', sha]]) });
  h.fake.connections[0]!.change({ kind: 'nudge' });
  await h.stop();
  await h.until('DISCONNECTED', () => h.lines().includes('DISCONNECTED'));
  assert.deepEqual(h.lines(), ['CONNECTED', 'SYNCING', 'DONESYNCING 1', 'SYNCING', 'DONESYNCING 1', 'DISCONNECTED']);
});

test('a failed fetch is tried again while connected, and succeeds once the remote works', async (t) => {
  const h = harness(t, (fx) => {
    git(fx.local, 'config', 'remote.origin.uploadpack', 'false');
    pushCommit(fx.pusher);
  });
  await h.until('a failed fetch', () => h.lines().includes('DONESYNCING 0'));
  assert.match(h.warnings().join('\n'), /git fetch failed/);
  git(h.fx.local, 'config', '--unset', 'remote.origin.uploadpack');
  await h.until('the retried fetch', () => h.lines().includes('DONESYNCING 1'));
  assert.equal(count(h.lines(), 'CONNECTED'), 1, 'the connection stayed');
});

test('RELOAD un-sticks a remote waiting for the user; nothing else retries it', async (t) => {
  const h = harness(t, (_fx, fake) => fake.outcomes.push('needs-user'));
  await h.until('the waiting warning', () => h.warnings().some((w) => /not retrying until RESUME or RELOAD/.test(w)));
  h.send({ type: 'live', live: { pollIntervalSeconds: 1, reportUpdates: true } }); // not a retry
  h.send({ type: 'changed', refs: ['refs/heads/main'] });
  await new Promise((r) => setImmediate(r));
  assert.equal(h.fake.attempts, 1);
  h.send({ type: 'reload' });
  await h.until('CONNECTED after RELOAD', () => h.lines().includes('CONNECTED'));
  assert.equal(h.fake.attempts, 2);
});

test('STOP racing a connect: the attempt is aborted, no CONNECTED, and the session ends', async (t) => {
  const h = harness(t, (_fx, fake) => fake.outcomes.push('hang'));
  await h.fake.until(() => h.fake.attempts === 1);
  await h.stop();
  assert.equal(h.fake.signals[0]!.aborted, true);
  assert.deepEqual(h.lines(), []);
});

test('a lost connection: DISCONNECTED, a retry after backoff, CONNECTED and a catch-up of what changed', async (t) => {
  const h = harness(t);
  await h.until('connected', () => h.lines().includes('CONNECTED'));
  h.fake.connections[0]!.lose(new Error('connection reset'));
  await h.until('disconnected', () => h.lines().includes('DISCONNECTED'));
  const sha = pushCommit(h.fx.pusher);
  await h.until('reconnected and caught up', () => h.lines().includes('DONESYNCING 1'));
  assert.deepEqual(h.lines(), ['CONNECTED', 'DISCONNECTED', 'CONNECTED', 'SYNCING', 'DONESYNCING 1']);
  assert.equal(refValue(h.fx.local, 'refs/remotes/origin/main'), sha);
  assert.match(h.warnings().join('\n'), /disconnected: connection reset/);
});

test('a transport saying the remote is reachable ends the backoff at once', async (t) => {
  const h = harness(t, (_fx, fake) => fake.outcomes.push('fail', 'fail'));
  await h.fake.until(() => h.fake.attempts === 2);
  // After the second failure the next retry is 1-2 s away.
  await h.until('backing off again', () => h.messages().filter((m) => m.type === 'phase' && m.phase.kind === 'backoff').length === 2);
  const at = Date.now();
  h.fake.context!.reachable!('the peer linked to us');
  await h.until('connected', () => h.lines().includes('CONNECTED'));
  assert.ok(Date.now() - at < 1000, `connected ${Date.now() - at} ms later: sooner than the backoff would have allowed`);
  assert.equal(h.fake.attempts, 3);
  assert.ok(h.messages().some((m) => m.type === 'log' && m.text === 'the peer linked to us: trying again now'));
});

test('PAUSE closes the connection and makes no attempt; RESUME reconnects at once', async (t) => {
  const h = harness(t);
  await h.until('connected', () => h.lines().includes('CONNECTED'));
  h.send({ type: 'pause' });
  await h.until('disconnected', () => h.lines().includes('DISCONNECTED'));
  assert.equal(h.fake.connections[0]!.closed, true);
  h.send({ type: 'resume' });
  await h.until('connected again', () => count(h.lines(), 'CONNECTED') === 2);
  assert.equal(h.fake.attempts, 2);
});

test('a flood of notices naming known objects: one ref listing at a time, a handful in all', async (t) => {
  const h = harness(t);
  await h.until('caught up', () => h.lines().includes('CONNECTED'));
  const connection = h.fake.connections[0]!;
  await h.fake.until(() => connection.listings === 1); // the catch-up's
  connection.listDelayMs = 30;
  const known = refValue(h.fx.remote, 'refs/heads/main')!;
  for (let i = 0; i < 5000; i++) connection.change({ kind: 'shas', shas: [known] });
  // Then a real change: its fetch comes after whatever the flood left queued.
  const sha = pushCommit(h.fx.pusher);
  connection.change({ kind: 'shas', shas: [sha] });
  await h.until('the fetch of the real change', () => h.lines().includes('DONESYNCING 1'));
  assert.equal(refValue(h.fx.local, 'refs/remotes/origin/main'), sha);
  assert.equal(connection.maxListingsInFlight, 1, 'never two listings at once');
  assert.ok(connection.listings <= 3, `${connection.listings} listings for 5000 notices`);
});

test('a transport that says the same thing endlessly: a few log lines and one summary, one condition', async (t) => {
  const h = harness(t);
  await h.until('connected', () => h.lines().includes('CONNECTED'));
  const events = h.fake.connections[0]!.events;
  for (let i = 0; i < 10_000; i++) {
    events.log(`notifier said ${i}: "garbage ${i}"`);
    events.condition('notifier', 'the notifier is broken');
  }
  h.send({ type: 'stop' }); // a stop says what was held back
  await h.until('the summary', () => h.messages().some((m) => m.type === 'log' && /more like this/.test(m.text)));
  const logs = h.messages().flatMap((m) => (m.type === "log" ? [m.text] : []));
  const about = logs.filter((l) => /notifier said/.test(l));
  assert.ok(about.length <= 6, `${about.length} lines about it: ${about.slice(0, 8).join(' | ')}`);
  assert.match(about.at(-1)!, /^9995 more like this in the last minute: notifier said 5: "garbage 5"/);
  // The worker reports each time; the gate, the one place that decides, says it once.
  const said: string[] = [];
  const gate = new ProtocolGate({ emit: (m) => said.push(formatEmitted(m)), log: () => {} });
  for (const m of h.messages()) if (m.type === 'condition' && m.text !== null) gate.raise('origin', m.kind, m.text);
  assert.deepEqual(said, ['WARNING origin the notifier is broken']);
});

test('RESUME while connected keeps the connection and looks at the remote now (a polled remote does not wait)', async (t) => {
  const h = harness(t);
  await h.until('connected and caught up', () => h.lines().includes('CONNECTED') && h.fake.connections[0]!.listings >= 1);
  const sha = pushCommit(h.fx.pusher); // nobody tells the session: only a look finds it
  const before = h.fake.connections[0]!.listings;
  h.send({ type: 'resume' });
  await h.until('the fetch the look found', () => h.lines().includes('DONESYNCING 1'));
  assert.equal(h.fake.connections[0]!.listings, before + 1);
  assert.equal(refValue(h.fx.local, 'refs/remotes/origin/main'), sha);
  assert.equal(count(h.lines(), 'CONNECTED'), 1, 'the connection stayed');
});

test('a connection lost during a fetch ends the fetch (DONESYNCING 0 before DISCONNECTED); the next catch-up does not wait for it', async (t) => {
  // An upload-pack that never answers: without the cut, the fetch would hang until the stall timeout.
  const silent = (fx: Fixture) => {
    const path = join(fx.root, 'silent-upload-pack');
    writeFileSync(path, '#!/bin/sh\nexec sleep 600\n', { mode: 0o755 });
    git(fx.local, 'config', 'remote.origin.uploadpack', path);
  };
  const h = harness(t, (fx) => {
    silent(fx);
    pushCommit(fx.pusher);
  });
  await h.until('the catch-up fetch started', () => h.lines().includes('SYNCING'));
  git(h.fx.local, 'config', '--unset', 'remote.origin.uploadpack');
  h.fake.connections[0]!.lose(new Error('the link to the peer was lost'));
  await h.until('reconnected and caught up', () => h.lines().includes('DONESYNCING 1'), 15_000);
  assert.deepEqual(h.lines(), ['CONNECTED', 'SYNCING', 'DONESYNCING 0', 'DISCONNECTED', 'CONNECTED', 'SYNCING', 'DONESYNCING 1']);
  assert.equal(refValue(h.fx.local, 'refs/remotes/origin/main'), refValue(h.fx.remote, 'refs/heads/main'));
  assert.ok(!h.warnings().some((w) => /git fetch failed/.test(w)), `a fetch cut with its connection is no fetch failure: ${h.warnings().join(' | ')}`);
  assert.ok(h.messages().some((m) => m.type === 'log' && /the fetch was ended: its connection was closed/.test(m.text)));
});
