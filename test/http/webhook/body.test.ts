// Streamed webhook bodies: hashed, verified, kept within a budget.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { BodyBudget, StreamedBody } from '../../../workers/http/webhook/body.js';
import { startProof } from '../../../workers/http/webhook/verify.js';

test('streamed bodies: hashed and verified whole, kept up to the cap and within the shared budget, given back', () => {
  const secret = 's';
  const text = Buffer.from('x'.repeat(100_000));
  const headers = { 'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(text).digest('hex')}` };
  const budget = new BodyBudget(150_000);
  const feed = (body: StreamedBody) => {
    for (let i = 0; i < text.length; i += 7) body.write(text.subarray(i, i + 7));
  };
  const one = new StreamedBody(startProof('github', headers, secret)!, budget, 120_000);
  feed(one);
  assert.ok(budget.inUse >= 100_000);
  // A second body cannot be kept while the first holds most of the budget: hashed only.
  const two = new StreamedBody(startProof('github', headers, secret)!, budget, 120_000);
  feed(two);
  const first = one.finish();
  const second = two.finish();
  assert.equal(budget.inUse, 0, 'all given back');
  assert.deepEqual(first.kept, text);
  assert.equal(first.verified, true);
  assert.equal(second.kept, undefined);
  assert.equal(second.verified, true);
  assert.equal(second.digest, first.digest);
  // Over the per-body cap: not kept, still verified; a wrong signature fails at the end.
  const small = new StreamedBody(startProof('github', headers, secret)!, budget, 50_000);
  feed(small);
  assert.equal(budget.inUse, 0);
  assert.equal(small.finish().kept, undefined);
  const wrong = new StreamedBody(startProof('github', headers, 'other')!, budget);
  feed(wrong);
  wrong.release();
  assert.equal(wrong.finish().verified, false);
  assert.equal(budget.inUse, 0);
  assert.equal(startProof('github', { 'x-hub-signature-256': 'sha256=zz' }, secret), undefined, 'a malformed signature is refused from the headers');
  assert.equal(startProof('gitlab', { 'x-gitlab-token': 'nope' }, secret), undefined, 'a wrong GitLab token is refused from the headers');
});
