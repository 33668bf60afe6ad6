import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatChanged, formatReady, parseNotifyLine, PIPE_BUF } from '../../shared/notifywire.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const S256 = 'c'.repeat(64);

test('formats READY and CHANGED exactly as git-annex-shell does', () => {
  assert.equal(formatReady(), 'READY\n');
  assert.deepEqual(formatChanged([A]), [`CHANGED ${A}\n`]);
  assert.deepEqual(formatChanged([A, B, S256]), [`CHANGED ${A} ${B} ${S256}\n`]);
});

test('drops duplicates and never formats an empty CHANGED', () => {
  assert.deepEqual(formatChanged([A, B, A]), [`CHANGED ${A} ${B}\n`]);
  assert.deepEqual(formatChanged([]), []);
});

test('splits a batch into lines of at most PIPE_BUF bytes', () => {
  const shas = Array.from({ length: 300 }, (_, i) => i.toString(16).padStart(40, '0'));
  const lines = formatChanged(shas);
  assert.ok(lines.length > 1);
  for (const line of lines) {
    assert.ok(Buffer.byteLength(line) <= PIPE_BUF, `${Buffer.byteLength(line)} bytes`);
    assert.match(line, /^CHANGED( [0-9a-f]{40})+\n$/);
  }
  assert.deepEqual(lines.flatMap((l) => l.trim().split(' ').slice(1)), shas);
  const tight = formatChanged([A, B], 'CHANGED '.length + 41);
  assert.deepEqual(tight, [`CHANGED ${A}\n`, `CHANGED ${B}\n`]);
});

test('refuses to format something that is not an object id', () => {
  assert.throws(() => formatChanged(['refs/heads/main']));
  assert.throws(() => formatChanged([A.toUpperCase()]));
});

test('parses what it formats, and what git-annex-shell sends', () => {
  assert.deepEqual(parseNotifyLine('READY'), { type: 'READY' });
  assert.deepEqual(parseNotifyLine('READY\r'), { type: 'READY' });
  assert.deepEqual(parseNotifyLine(`CHANGED ${A} ${B}`), { type: 'CHANGED', shas: [A, B] });
  assert.deepEqual(parseNotifyLine(`CHANGED ${A} ${A}`), { type: 'CHANGED', shas: [A, A] });
  for (const line of formatChanged([A, S256])) assert.deepEqual(parseNotifyLine(line.slice(0, -1)), { type: 'CHANGED', shas: [A, S256] });
});

test('rejects malformed lines', () => {
  for (const line of ['', 'READY ', 'ready', 'CHANGED', 'CHANGED ', `CHANGED  ${A}`, `CHANGED ${A} `, `CHANGED ${A.slice(1)}`, `CHANGED ${A.toUpperCase()}`, `CHANGED refs/heads/main`, `CHANGE ${A}`, `${A}`]) {
    assert.equal(parseNotifyLine(line), undefined, JSON.stringify(line));
  }
});
