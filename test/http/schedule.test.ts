// The poll schedule.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextPollDelay, phaseOf, pollIntervalSeconds } from '../../workers/http/schedule.js';

test('poll schedule: slots at the URL\'s phase, jitter within 10%, never sooner than half an interval', () => {
  const interval = 60_000;
  const phase = phaseOf('https://example.org/a.git');
  assert.equal(phase, phaseOf('https://example.org/a.git'), 'stable');
  assert.ok(phase >= 0 && phase < 1);
  for (let now = 0; now < 5 * interval; now += 7_919) {
    const exact = nextPollDelay(interval, phase, now, 0.5);
    const landing = now + exact;
    assert.ok(Math.abs((((landing - phase * interval) % interval) + interval) % interval) < 2, 'on a slot');
    assert.ok(exact >= interval / 2 && exact <= 1.5 * interval);
    const early = nextPollDelay(interval, phase, now, 0);
    const late = nextPollDelay(interval, phase, now, 1);
    assert.equal(exact - early, 6_000);
    assert.equal(late - exact, 6_000);
  }
  // Ten remotes on one host: their phases spread over the interval.
  const phases = Array.from({ length: 10 }, (_, i) => phaseOf(`https://example.org/repo${i}.git`)).sort();
  assert.ok(phases.at(-1)! - phases[0] > 0.5, `spread: ${phases.join(', ')}`);
  assert.equal(pollIntervalSeconds(60, false), 60);
  assert.equal(pollIntervalSeconds(0, false), 1);
  assert.equal(pollIntervalSeconds(60, true), 600);
  assert.equal(pollIntervalSeconds(600, true), 3600);
  assert.equal(pollIntervalSeconds(7200, true), 7200, 'never faster than configured');
});
