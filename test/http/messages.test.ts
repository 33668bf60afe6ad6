// workers/http/messages.ts: what a remote's http transport accepts from the webhook endpoint's
// link. isFromWebhook is its only check on a structured-clone message: it must let through the two
// kinds the endpoint sends and nothing else (not a crash on null or a primitive).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFromWebhook } from '../../workers/http/messages.js';

test('status and nudge messages are the webhook endpoint speaking', () => {
  assert.equal(isFromWebhook({ type: 'status', listening: true }), true);
  assert.equal(isFromWebhook({ type: 'nudge', forge: 'github' }), true);
});

test('anything else is not, without throwing on what has no properties', () => {
  for (const message of [null, undefined, 0, 'status', true, {}, { type: 'hello' }, { type: 'STATUS' }, { type: ['status'] }, { kind: 'nudge' }, []]) {
    assert.equal(isFromWebhook(message), false, JSON.stringify(message));
  }
});
