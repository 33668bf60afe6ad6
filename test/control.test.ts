import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { readControl, ControlOutput } from '../src/control.js';
import { BoundedLines } from '../shared/kit/lines.js';
import { MAX_LINE_BYTES, type Consumed } from '../src/protocol.js';

function split(chunks: (string | Buffer)[], max = MAX_LINE_BYTES) {
  const lines: string[] = [];
  const overlong: number[] = [];
  const s = new BoundedLines({ line: (l) => lines.push(l), overlong: (n) => overlong.push(n) }, max);
  for (const c of chunks) s.push(typeof c === 'string' ? Buffer.from(c) : c);
  s.end();
  return { lines, overlong };
}

test('lines split across chunks, CRLF and a last line without newline', () => {
  assert.deepEqual(split(['PAU', 'SE\nRES', 'UME\r\nSTOP']).lines, ['PAUSE', 'RESUME\r', 'STOP']);
});

test('a multibyte character split between chunks decodes whole; invalid bytes do not', () => {
  const euro = Buffer.from('€');
  assert.deepEqual(split([Buffer.concat([Buffer.from('CHANGED refs/heads/'), euro.subarray(0, 1)]), Buffer.concat([euro.subarray(1), Buffer.from('\n')])]).lines, ['CHANGED refs/heads/€']);
  assert.ok(split([Buffer.from([0x43, 0xff, 0x0a])]).lines[0].includes('\uFFFD'));
});

test('an over-long line is dropped up to its newline, without being held in memory', () => {
  const big = Buffer.alloc(1 << 20, 0x41);
  const { lines, overlong } = split([big, big, '\nSTOP\n'], MAX_LINE_BYTES);
  assert.deepEqual(lines, ['STOP']);
  assert.deepEqual(overlong, [2 << 20]);
});

test('readControl routes messages, reports bad lines and sees the end', async () => {
  const input = new PassThrough();
  const messages: Consumed[] = [];
  const bad: string[] = [];
  const ended = new Promise<void>((resolve) => readControl(input, { onMessage: (m) => messages.push(m), onBadLine: (p) => bad.push(p), onEnd: resolve }));
  input.write('PAUSE\nnonsense\n');
  input.write(Buffer.alloc(70_000, 0x42));
  input.end('\nCHANGED refs/heads/x\n');
  await ended;
  assert.deepEqual(messages, [{ type: 'PAUSE' }, { type: 'CHANGED', refs: ['refs/heads/x'] }]);
  assert.equal(bad.length, 2);
  assert.match(bad[0], /unknown message "nonsense"/);
  assert.match(bad[1], /70000 bytes is longer than the 65536 allowed/);
});

test('output writes one whole line per message and tells when its reader is gone', async () => {
  const out = new PassThrough();
  const chunks: string[] = [];
  out.on('data', (c: Buffer) => chunks.push(c.toString()));
  let closed = 0;
  const write = new ControlOutput(out, () => closed++).claim();
  write({ type: 'CONNECTED', remote: 'a' });
  write({ type: 'DONESYNCING', remote: 'a', ok: true });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(chunks, ['CONNECTED a\n', 'DONESYNCING a 1\n']);
  out.destroy(new Error('EPIPE'));
  await new Promise((r) => setImmediate(r));
  write({ type: 'SYNCING', remote: 'a' });
  assert.equal(closed, 1);
});

test('with strays, the stream carries protocol lines alone: any other write to it goes elsewhere', async () => {
  const out = new PassThrough();
  const strays = new PassThrough();
  const outText: string[] = [];
  const strayText: string[] = [];
  out.on('data', (c: Buffer) => outText.push(c.toString()));
  strays.on('data', (c: Buffer) => strayText.push(c.toString()));
  const write = new ControlOutput(out, () => {}, strays).claim();
  out.write('a stray line from somewhere\n');
  write({ type: 'CONNECTED', remote: 'a' });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(outText, ['CONNECTED a\n']);
  assert.deepEqual(strayText, ['a stray line from somewhere\n']);
});
