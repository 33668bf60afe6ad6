// workers/http/webhook/endpoint.ts: the webhook receiver as a shared endpoint, driven over
// MessagePorts in this process with deliveries on loopback. test/http/webhook.test.ts covers each
// forge's push, signatures, replays, the bound and a bad secret file; this file covers what the
// endpoint itself decides: each repository's own secret proves pushes for its remotes only (a
// remote with none falls back to the settings' secret), an empty secret keeps the receiver off,
// a remote's hello is answered with the status again, and rejected deliveries are counted in
// the log, not logged one by one.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { ToEndpoint } from '../../../shared/plugin.js';
import type { FromWebhook } from '../../../workers/http/messages.js';
import { Inbox, listeningPort, startWebhookEndpoint, type WebhookEndpoint } from './harness.js';

const T = { timeout: 10_000 };
const URL_A = 'https://git.example.org/owner/a.git';
const URL_B = 'https://git.example.org/owner/b.git';

interface Running extends WebhookEndpoint {
  /** The port it listens on, once it does (0 when it does not). */
  port: number;
}

async function run(t: TestContext, settings: Record<string, unknown>): Promise<Running> {
  const hook = startWebhookEndpoint(t, settings);
  return { ...hook, port: await listeningPort(hook.daemon) };
}

function deliver(port: number, url: string, secret: string, delivery: string): Promise<number> {
  const body = JSON.stringify({ ref: 'refs/heads/main', after: delivery.padEnd(40, '0'), repository: { clone_url: url } });
  const signature = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: '127.0.0.1', port, method: 'POST', agent: false, headers: { 'Content-Type': 'application/json', 'X-GitHub-Event': 'push', 'X-GitHub-Delivery': delivery, 'X-Hub-Signature-256': signature } },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

const listening = (m: FromWebhook) => m.type === 'status' && m.listening;
const nudged = (inbox: Inbox<FromWebhook>) => inbox.items.filter((m) => m.type === 'nudge').length;

test("a repository's own secret proves pushes for its remotes only; a remote that brings none uses the settings' secret", T, async (t) => {
  const hook = await run(t, { listen: { host: '127.0.0.1', port: 0 }, secret: 'fallback' });
  // Two repositories whose remotes name the same URL, each with its own secret; a third brings none (or an empty one).
  const a = hook.attach('repo-a/origin', URL_A, { secret: 'secret-a' });
  const b = hook.attach('repo-b/origin', URL_A, { secret: 'secret-b' });
  const c = hook.attach('repo-c/origin', URL_A, { secret: '' });
  const d = hook.attach('repo-d/other', URL_B);
  await Promise.all([a, b, c, d].map((r) => r.inbox.first(listening)));

  assert.equal(await deliver(hook.port, URL_A, 'secret-a', 'd1'), 202);
  await a.inbox.first((m) => m.type === 'nudge');
  assert.equal(await deliver(hook.port, URL_A, 'fallback', 'd2'), 202);
  await c.inbox.first((m) => m.type === 'nudge');
  // Proven, but for a URL that no remote with that secret has: nobody.
  assert.equal(await deliver(hook.port, URL_B, 'secret-b', 'd3'), 404);
  // A secret nobody attached has proves nothing.
  assert.equal(await deliver(hook.port, URL_A, 'secret-x', 'd4'), 401);

  // The fallback's push for URL_B reaches d; once d heard it, every delivery before it was judged.
  assert.equal(await deliver(hook.port, URL_B, 'fallback', 'd5'), 202);
  await d.inbox.first((m) => m.type === 'nudge');
  assert.deepEqual([a, b, c, d].map((r) => nudged(r.inbox)), [1, 0, 1, 1]);
});

test("a repository's secret counts only while a remote of it is attached", T, async (t) => {
  const hook = await run(t, { listen: { host: '127.0.0.1', port: 0 }, secret: 'fallback' });
  const a = hook.attach('repo-a/origin', URL_A, { secret: 'secret-a' });
  await a.inbox.first(listening);
  hook.control.postMessage({ type: 'detach', remote: 'repo-a/origin' } satisfies ToEndpoint);
  // Messages are handled in order: once a later attach is answered, the detach was handled.
  const later = hook.attach('repo-b/origin', URL_B);
  await later.inbox.first(listening);
  assert.equal(await deliver(hook.port, URL_A, 'secret-a', 'd1'), 401);
  assert.equal(nudged(a.inbox), 0);
});

test("a remote's hello (it says one after every connect) is answered with the status again; junk before it stops nothing", T, async (t) => {
  const hook = await run(t, { listen: { host: '127.0.0.1', port: 0 }, secret: 'fallback' });
  const a = hook.attach('origin', URL_A);
  await a.inbox.first(listening);
  a.port.postMessage(null);
  a.port.postMessage('hello');
  a.port.postMessage({ type: 'hello' });
  await a.inbox.first(() => a.inbox.items.length >= 2);
  assert.deepEqual(a.inbox.items.slice(0, 2), [
    { type: 'status', listening: true },
    { type: 'status', listening: true },
  ]);
});

test('an empty secret keeps the receiver off, said as the webhook condition; remotes hear it is not listening', T, async (t) => {
  const hook = await run(t, { listen: { host: '127.0.0.1', port: 0 }, secret: '' });
  assert.equal(hook.port, 0);
  const condition = await hook.daemon.first((m) => m.type === 'condition');
  assert.deepEqual(condition, { type: 'condition', kind: 'webhook', text: 'the webhook receiver is off: the webhook secret is empty' });
  const a = hook.attach('origin', URL_A);
  assert.deepEqual(await a.inbox.first((m) => m.type === 'status'), { type: 'status', listening: false });
});

test('rejected deliveries are counted in the log, one line per hundred, not one each', T, async (t) => {
  const hook = await run(t, { listen: { host: '127.0.0.1', port: 0 }, secret: 'fallback' });
  const a = hook.attach('origin', URL_A);
  await a.inbox.first(listening);
  for (let i = 0; i < 3; i++) assert.equal(await deliver(hook.port, URL_A, 'wrong', `bad-${i}`), 401);
  // A good one after them: once it is logged, the rejections before it were too.
  assert.equal(await deliver(hook.port, URL_A, 'fallback', 'good'), 202);
  await hook.daemon.first((m) => m.type === 'log' && /push for origin/.test(m.text));
  const rejections = hook.daemon.items.filter((m) => m.type === 'log' && /rejected/.test(m.text));
  assert.deepEqual(rejections, [{ type: 'log', text: 'webhook: rejected 1 unsigned or badly signed deliveries so far' }]);
});
