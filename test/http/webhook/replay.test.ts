// Seen bodies, for refusing replays.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeenBodies } from '../../../workers/http/webhook/replay.js';

test('seen bodies are bounded, oldest first out', () => {
  const seen = new SeenBodies(3);
  for (const id of ['a', 'b', 'c', 'd']) seen.add(id);
  assert.deepEqual(['a', 'b', 'c', 'd'].map((id) => seen.has(id)), [false, true, true, true]);
});
