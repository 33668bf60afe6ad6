// pkt-lines: framing, reading split anywhere, special packets, bad headers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pktLine, PktReader, PktLineError, MAX_PKT_LEN } from '../../workers/wire/pktline.js';

test('pkt-lines: framing, split anywhere, special packets, bad headers', () => {
  assert.equal(pktLine('a\n').toString(), '0006a\n');
  const stream = Buffer.concat([pktLine('hello\n'), Buffer.from('000100000002'), pktLine('x')]);
  for (let cut = 0; cut <= stream.length; cut++) {
    const reader = new PktReader();
    const packets = [...reader.push(stream.subarray(0, cut)), ...reader.push(stream.subarray(cut))];
    assert.deepEqual(packets.map((p) => (p.kind === 'data' ? p.payload.toString() : p.kind)), ['hello\n', 'delim', 'flush', 'end', 'x']);
    assert.equal(reader.buffered, 0);
  }
  assert.throws(() => new PktReader().push(Buffer.from('zzzz')), PktLineError);
  assert.throws(() => new PktReader().push(Buffer.from('0003')), /length 3/);
  assert.throws(() => new PktReader().push(Buffer.from('fff1')), /over git's limit/);
  assert.throws(() => pktLine(Buffer.alloc(MAX_PKT_LEN)), PktLineError);
  // An unfinished packet waits, holding at most one packet's bytes.
  const reader = new PktReader();
  assert.deepEqual(reader.push(Buffer.from('fff0abc')), []);
  assert.equal(reader.buffered, 7);
});
