// The one bounded line splitter every reader of an untrusted stream uses (src/kit/lines.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BoundedLines } from '../../shared/kit/lines.js';

function reader(max: number) {
  const seen: string[] = [];
  const lines = new BoundedLines(
    {
      line: (l) => seen.push(`line ${l}`),
      overlong: (n) => seen.push(`overlong ${n}`),
      exceeded: () => seen.push('exceeded'),
    },
    max,
  );
  return { lines, seen };
}

test('lines split across chunks come out whole, empty lines included', () => {
  const { lines, seen } = reader(64);
  lines.push(Buffer.from('REA'));
  assert.deepEqual(seen, []);
  lines.push(Buffer.from('DY\nCHANGED a'));
  lines.push(Buffer.from('bc\n\nx'));
  assert.deepEqual(seen, ['line READY', 'line CHANGED abc', 'line ']);
});

test('a line at the limit passes; one byte more is reported at once, then dropped to its newline', () => {
  const { lines, seen } = reader(16);
  lines.push(Buffer.from('0123456789abcdef\n'));
  lines.push(Buffer.from('0123456789'));
  lines.push(Buffer.from('0123456789'));
  assert.deepEqual(seen, ['line 0123456789abcdef', 'exceeded'], 'exceeded before the line ends');
  lines.push(Buffer.alloc(1 << 20, 0x78)); // held nowhere
  lines.push(Buffer.from('\nnext\n'));
  assert.deepEqual(seen.slice(2), [`overlong ${20 + (1 << 20)}`, 'line next']);
});

test('stop() delivers nothing more, not even the rest of the chunk being split', () => {
  const seen: string[] = [];
  const lines: BoundedLines = new BoundedLines(
    {
      line: (l) => {
        seen.push(l);
        if (l === 'stop') lines.stop();
      },
      overlong: () => {},
    },
    64,
  );
  lines.push(Buffer.from('a\nstop\nb\nc\n'));
  lines.end();
  assert.deepEqual(seen, ['a', 'stop']);
});
