// Webhook signatures: which forge sent a delivery, and whether its signature holds.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { identify, verify } from '../../../workers/http/webhook/verify.js';

test('webhook signatures: each forge\'s scheme, constant-length checks, wrong secrets and bodies refused', () => {
  const body = Buffer.from('{"ref":"refs/heads/main"}');
  const secret = 'shh';
  const hex = createHmac('sha256', secret).update(body).digest('hex');
  const gh = { 'x-github-event': 'push', 'x-github-delivery': 'id1', 'x-hub-signature-256': `sha256=${hex}` };
  assert.deepEqual(identify(gh), { forge: 'github', event: 'push', id: 'id1' });
  assert.equal(verify('github', gh, body, secret), true);
  assert.equal(verify('github', gh, body, 'other'), false);
  assert.equal(verify('github', gh, Buffer.from('{"ref":"refs/heads/evil"}'), secret), false);
  assert.equal(verify('github', { 'x-hub-signature-256': hex }, body, secret), false, 'the sha256= prefix is required');
  assert.equal(verify('github', { 'x-hub-signature-256': 'sha256=abc' }, body, secret), false, 'short signatures do not throw');
  assert.equal(verify('github', gh, body, ''), false, 'an empty secret verifies nothing');
  assert.equal(identify({ 'x-gitea-event': 'push', 'x-github-event': 'push', 'x-gitea-delivery': 'g' })!.forge, 'gitea');
  assert.equal(identify({ 'x-forgejo-event': 'push', 'x-gitea-event': 'push', 'x-forgejo-delivery': 'f' })!.forge, 'forgejo');
  assert.equal(verify('gitea', { 'x-gitea-signature': hex }, body, secret), true);
  assert.equal(verify('forgejo', { 'x-forgejo-signature': hex }, body, secret), true);
  assert.equal(verify('gitlab', { 'x-gitlab-token': secret }, body, secret), true);
  assert.equal(verify('gitlab', { 'x-gitlab-token': `${secret}x` }, body, secret), false);
  assert.equal(identify({}), undefined);
});
