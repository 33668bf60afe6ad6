// The object checker keeps a cat-file only while questions come: an idle remote holds no child.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ObjectChecker } from '../../workers/objects.js';
import { eventually } from '../support/daemon.js';
import { makeFixture, refValue } from '../support/git.js';

test('cat-file starts on the first question, ends after a quiet spell, and starts again when asked', async (t) => {
  const fx = makeFixture();
  t.after(fx.cleanup);
  const checker = new ObjectChecker(fx.local, 200);
  t.after(() => checker.close());
  assert.equal(checker.running, false, 'nothing started before a question');
  const head = refValue(fx.local, 'refs/heads/main')!;
  assert.equal(await checker.has(head), true);
  assert.equal(checker.running, true);
  await eventually(() => !checker.running, 'cat-file ended when idle', 5000);
  assert.equal(await checker.resolve('refs/heads/main'), head, 'a later question is answered by a new one');
  assert.equal(await checker.has('0'.repeat(40)), false);
});
