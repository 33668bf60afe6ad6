// The ls-refs request, and parsing its answer.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pktLine } from '../../workers/wire/pktline.js';
import { LsRefsParser, lsRefsRequest, NotV2Error, ProtocolError } from '../../workers/wire/lsrefs.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(64);

test('ls-refs request: command, delim, one ref-prefix per prefix, flush', () => {
  assert.equal(
    lsRefsRequest(['refs/heads/', 'refs/tags/']).toString(),
    '0014command=ls-refs\n' + '001cagent=git-remote-daemon\n' + '0001' + '001bref-prefix refs/heads/\n' + '001aref-prefix refs/tags/\n' + '0000',
  );
});

test('ls-refs answers: refs of either hash, attributes ignored; v0, ERR, empty and malformed refused', () => {
  const parse = (...parts: (string | Buffer)[]) => {
    const parser = new LsRefsParser();
    for (const part of parts) parser.push(typeof part === 'string' ? Buffer.from(part) : part);
    return parser.finish();
  };
  const ok = parse(pktLine(`${A} refs/heads/main\n`), pktLine(`${B} HEAD symref-target:refs/heads/main\n`), '0000');
  assert.deepEqual([...ok], [['refs/heads/main', A], ['HEAD', B]]);
  assert.deepEqual([...parse('0000')], [], 'no refs under the prefixes is a valid answer');
  assert.throws(() => parse(''), NotV2Error);
  assert.throws(() => parse(pktLine(`${A} HEAD\0multi_ack side-band\n`)), NotV2Error);
  assert.throws(() => parse(pktLine('# service=git-upload-pack\n'), '0000'), NotV2Error);
  assert.throws(() => parse(pktLine('ERR access denied\n')), /access denied/);
  assert.throws(() => parse('<html>'), ProtocolError);
  assert.throws(() => parse(pktLine(`${A} refs/heads/main\n`)), /cut short/);
  assert.throws(() => parse(pktLine(`${A} refs/heads/main\n`), pktLine('nonsense\n')), ProtocolError);
  assert.throws(() => parse('0000', pktLine(`${A} refs/heads/x\n`)), /after the end/);
  assert.throws(() => parse(pktLine(`${A} refs/heads/main\n`), '0001'), /delim/);
});
