// workers/loglimit.ts: what a remote can make the daemon log, bounded per sort, in all and per line.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LogLimiter, type LogLimits } from '../../workers/loglimit.js';

function limiter(limits: LogLimits) {
  const written: string[] = [];
  let now = 1_000_000;
  const l = new LogLimiter((text) => written.push(text), limits, () => now);
  return { l, written, advance: (ms: number) => (now += ms) };
}

test('a few lines of each sort go through; the rest are counted into one summary per sort', (t) => {
  const { l, written } = limiter({ perSort: 2, total: 100, windowMs: 60_000, maxLineChars: 200 });
  t.after(() => l.flush());
  for (let i = 0; i < 10; i++) l.log(`fetch failed after ${i} s for 0123456789abcdef${i}`); // one sort: only digits and ids differ
  l.log('another kind of line');
  assert.deepEqual(written, ['fetch failed after 0 s for 0123456789abcdef0', 'fetch failed after 1 s for 0123456789abcdef1', 'another kind of line']);
  l.flush();
  assert.deepEqual(written.slice(3), ['8 more like this in the last minute: fetch failed after 2 s for 0123456789abcdef2']);
});

test('the total bounds lines of all sorts, and the map of held sorts is bounded too', (t) => {
  const { l, written } = limiter({ perSort: 5, total: 3, windowMs: 10_000, maxLineChars: 200 });
  t.after(() => l.flush());
  const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel'];
  for (const w of words) l.log(`line ${w}`);
  assert.deepEqual(written, ['line alpha', 'line bravo', 'line charlie']);
  l.flush();
  // Three sorts held by name (the bound is the total), the other two counted together.
  assert.deepEqual(written.slice(3), [
    '1 more like this in the last 10 s: line delta',
    '1 more like this in the last 10 s: line echo',
    '1 more like this in the last 10 s: line foxtrot',
    '2 more like this in the last 10 s: (various) line golf',
  ]);
});

test('a new window lets lines through again; a long line is cut', (t) => {
  const { l, written, advance } = limiter({ perSort: 1, total: 10, windowMs: 1_000, maxLineChars: 20 });
  t.after(() => l.flush());
  l.log('same');
  l.log('same');
  assert.deepEqual(written, ['same']);
  advance(1_000);
  l.log('same');
  assert.equal(written.at(-1), 'same', 'a fresh window');
  l.log('x'.repeat(5000));
  assert.equal(written.at(-1), `${'x'.repeat(20)}... (5000 chars)`);
});

test('a quiet limiter arms no timer; one that held lines back says so when its window ends', async (t) => {
  const written: string[] = [];
  const l = new LogLimiter((text) => written.push(text), { perSort: 1, total: 10, windowMs: 50, maxLineChars: 100 });
  t.after(() => l.flush());
  l.log('only once');
  l.log('only once');
  assert.deepEqual(written, ['only once']);
  // The summary is what the window's end produces: wait for it, with a deadline.
  const deadline = Date.now() + 5_000;
  while (written.length < 2) {
    assert.ok(Date.now() < deadline, 'no summary at the end of the window');
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.equal(written[1], '1 more like this in the last 0 s: only once');
});
