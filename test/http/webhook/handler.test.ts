// A delivery's conclusion: which remotes to nudge, or the status to answer.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeenBodies } from '../../../workers/http/webhook/replay.js';
import { BodyBudget } from '../../../workers/http/webhook/body.js';
import { conclude, type HandlerContext } from '../../../workers/http/webhook/handler.js';

test('a verified push: its payload picks the remotes; without its payload (not kept), every remote; a second copy of a body is a replay', () => {
  const context: HandlerContext = {
    secret: 's',
    seen: new SeenBodies(),
    budget: new BodyBudget(),
    match: (urls) => (urls.has('https://h/o/r') ? ['origin'] : []),
    all: () => ['origin', 'mirror'],
  };
  const push = { forge: 'github' as const, event: 'push', id: undefined };
  const payload = Buffer.from(JSON.stringify({ repository: { clone_url: 'https://h/o/r.git' } }));
  assert.deepEqual(conclude(push, { digest: 'd1', size: payload.length, verified: true, kept: payload }, 'application/json', context).nudge, { remotes: ['origin'], forge: 'github' });
  assert.deepEqual(conclude(push, { digest: 'd1', size: payload.length, verified: true, kept: payload }, 'application/json', context).status, 200, 'the same body again');
  assert.deepEqual(conclude(push, { digest: 'd2', size: 600_000, verified: true, kept: undefined }, undefined, context).nudge, { remotes: ['origin', 'mirror'], forge: 'github' });
  assert.equal(conclude(push, { digest: 'd3', size: 10, verified: false, kept: payload }, undefined, context).status, 401);
  assert.equal(conclude(push, { digest: 'd4', size: 3, verified: true, kept: Buffer.from('{{{') }, undefined, context).status, 400);
});
