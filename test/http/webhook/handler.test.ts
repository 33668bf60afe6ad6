// A delivery's conclusion: which remotes to nudge, or the status to answer.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeenBodies } from '../../../workers/http/webhook/replay.js';
import { BodyBudget } from '../../../workers/http/webhook/body.js';
import { admit, conclude, type HandlerContext, type Verdict } from '../../../workers/http/webhook/handler.js';
import { sign } from '../../../workers/http/webhook/verify.js';

test('a verified push: its payload picks the remotes; without its payload (not kept), every remote; a second copy of a body is a replay', () => {
  const context: HandlerContext = {
    secrets: () => ['s'],
    seen: new SeenBodies(),
    budget: new BodyBudget(),
    match: (urls) => (urls.has('https://h/o/r') ? ['origin'] : []),
    all: () => ['origin', 'mirror'],
  };
  const push = { forge: 'github' as const, event: 'push', id: undefined };
  const payload = Buffer.from(JSON.stringify({ repository: { clone_url: 'https://h/o/r.git' } }));
  const secrets = ['s'];
  assert.deepEqual(conclude(push, { digest: 'd1', size: payload.length, verified: true, secrets, kept: payload }, 'application/json', context).nudge, { remotes: ['origin'], forge: 'github' });
  assert.deepEqual(conclude(push, { digest: 'd1', size: payload.length, verified: true, secrets, kept: payload }, 'application/json', context).status, 200, 'the same body again');
  assert.deepEqual(conclude(push, { digest: 'd2', size: 600_000, verified: true, secrets, kept: undefined }, undefined, context).nudge, { remotes: ['origin', 'mirror'], forge: 'github' });
  assert.equal(conclude(push, { digest: 'd3', size: 10, verified: false, kept: payload }, undefined, context).status, 401);
  assert.equal(conclude(push, { digest: 'd4', size: 3, verified: true, secrets, kept: Buffer.from('{{{') }, undefined, context).status, 400);
});

test("several repositories' secrets: a push proven with A's secret nudges only A's remotes, with B's only B's, with neither 401; A's body replayed is refused for A and never nudges B", () => {
  // Two repositories behind one receiver, each remote with its repository's secret; both name
  // the same forge repository, so only the secret tells them apart.
  const remotes = [
    { name: 'origin in /a', secret: 'secret-of-a', repo: 'https://h/o/r' },
    { name: 'mirror in /a', secret: 'secret-of-a', repo: 'https://h/o/other' },
    { name: 'origin in /b', secret: 'secret-of-b', repo: 'https://h/o/r' },
  ];
  const context: HandlerContext = {
    secrets: () => [...new Set(remotes.map((r) => r.secret))],
    seen: new SeenBodies(),
    budget: new BodyBudget(),
    match: (urls, secret) => remotes.filter((r) => r.secret === secret && urls.has(r.repo)).map((r) => r.name),
    all: (secret) => remotes.filter((r) => r.secret === secret).map((r) => r.name),
  };
  const deliver = (body: string, secret: string): Verdict => {
    const headers = { 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${sign(body, secret)}`, 'content-type': 'application/json' };
    const intake = admit(headers, context);
    if (!('write' in intake)) return intake;
    // In small pieces, as a body streams: every secret's HMAC sees every byte.
    const bytes = Buffer.from(body);
    for (let i = 0; i < bytes.length; i += 5) intake.write(bytes.subarray(i, i + 5));
    return intake.end();
  };
  const body = (n: number) => JSON.stringify({ after: String(n), repository: { clone_url: 'https://h/o/r.git' } });

  assert.deepEqual(deliver(body(1), 'secret-of-a').nudge?.remotes, ['origin in /a']);
  assert.deepEqual(deliver(body(2), 'secret-of-b').nudge?.remotes, ['origin in /b']);
  const neither = deliver(body(3), 'secret-of-c');
  assert.equal(neither.status, 401);
  assert.equal(neither.nudge, undefined);
  // A's body again, as A signed it: a replay for A, and nothing for B (its secret proves nothing).
  const again = deliver(body(1), 'secret-of-a');
  assert.equal(again.status, 200);
  assert.equal(again.replay, true);
  assert.equal(again.nudge, undefined);
  // The same bytes B signs for itself are B's first: A's memory of them is A's.
  assert.deepEqual(deliver(body(1), 'secret-of-b').nudge?.remotes, ['origin in /b']);
  assert.equal(deliver(body(1), 'secret-of-b').replay, true);
  // A push naming a repository no remote has: 404 whichever secret proves it.
  const forOther = JSON.stringify({ repository: { clone_url: 'https://h/o/nowhere.git' } });
  assert.equal(deliver(forOther, 'secret-of-a').status, 404);
  assert.equal(deliver(forOther, 'secret-of-b').status, 404);
  // Over the kept cap (payload unknown): every remote of the proving secret, never the other's.
  context.budget = new BodyBudget(0);
  assert.deepEqual(deliver(body(4), 'secret-of-b').nudge?.remotes, ['origin in /b']);
  assert.deepEqual(deliver(body(5), 'secret-of-a').nudge?.remotes, ['origin in /a', 'mirror in /a']);
});

test('a delivery is checked against at most MAX_SECRETS secrets', () => {
  const many = Array.from({ length: 40 }, (_, i) => `secret-${i}`);
  const context: HandlerContext = { secrets: () => many, seen: new SeenBodies(), budget: new BodyBudget(), match: (_, s) => [s], all: (s) => [s] };
  const body = JSON.stringify({ repository: { clone_url: 'https://h/o/r.git' } });
  const verdict = (secret: string) => {
    const intake = admit({ 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${sign(body, secret)}` }, context);
    if (!('write' in intake)) return intake;
    intake.write(Buffer.from(body));
    return intake.end();
  };
  assert.equal(verdict('secret-31').status, 202);
  assert.equal(verdict('secret-32').status, 401);
});
