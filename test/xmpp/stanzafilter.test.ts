// The filter in front of the XMPP parser: a stranger's stanza is skipped as it streams past, an
// oversized element is skipped, everything else reaches the parser exactly as it was sent, however
// the stream is cut into chunks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StanzaFilter, type Skipped } from '../../workers/xmpp/stanzafilter.js';
import { liveHeap } from '../support/heap.js';

const TRUSTED = new Set(['me@example.org', 'example.org']);
const admit = (name: string, from: string | undefined) =>
  !['message', 'presence', 'iq'].includes(name) || from === undefined || TRUSTED.has(from.split('/')[0]!);

function run(chunks: string[], max = 1024) {
  let delivered = '';
  const skipped: Skipped[] = [];
  let tooLarge = 0;
  const filter = new StanzaFilter(admit, max, { deliver: (t) => (delivered += t), skipped: (s) => skipped.push(s), tooLarge: () => tooLarge++ });
  for (const chunk of chunks) filter.push(chunk);
  return { delivered, skipped, tooLarge };
}

const HEADER = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='example.org' id='x1' version='1.0'>`;
const GOOD = `<message from='me@example.org/grd-1' type='headline' a="quoted > and /"><notice xmlns='urn:n'>a &amp; b</notice><body><![CDATA[</message> <x/>]]></body></message>`;
const BAD = `<message from="mallory@evil.example/r" to='me@example.org/grd-2'><notice xmlns='urn:n'>${'x'.repeat(50)}</notice><nested><deeper/></nested></message>`;
const NONZA = `<r xmlns='urn:xmpp:sm:3'/>`;
const SERVER = `<iq type='result' id='p1' from='example.org'/>`;
const STREAM = `${HEADER}${GOOD} ${BAD}${NONZA}\n${SERVER}<presence from='mallory@evil.example/r'/>${GOOD}</stream:stream>`;
const EXPECTED = `${HEADER}${GOOD} ${NONZA}\n${SERVER}${GOOD}</stream:stream>`;

test('stanza filter: what is let through is exactly what was sent, at every cut of the stream into two and into single characters', () => {
  for (let cut = 0; cut <= STREAM.length; cut++) {
    const r = run([STREAM.slice(0, cut), STREAM.slice(cut)]);
    assert.equal(r.delivered, EXPECTED, `cut at ${cut}`);
    assert.deepEqual(r.skipped.map((s) => [s.name, s.from, s.why]), [
      ['message', 'mallory@evil.example/r', 'untrusted'],
      ['presence', 'mallory@evil.example/r', 'untrusted'],
    ]);
  }
  assert.equal(run([...STREAM]).delivered, EXPECTED);
});

test('stanza filter: a stranger\'s 8 MB stanza is skipped without being held; the next stanza gets through', () => {
  let delivered = '';
  const skipped: Skipped[] = [];
  const filter = new StanzaFilter(admit, 64 * 1024, { deliver: (t) => (delivered += t), skipped: (s) => skipped.push(s), tooLarge: () => assert.fail('not too large') });
  filter.push(HEADER);
  filter.push(`<message from='mallory@evil.example/r'><body>`);
  const chunk = 'y'.repeat(16 * 1024);
  const heapBefore = liveHeap();
  for (let i = 0; i < 512; i++) filter.push(chunk);
  const grown = liveHeap() - heapBefore;
  filter.push(`</body></message>${GOOD}`);
  assert.equal(delivered, HEADER + GOOD);
  assert.deepEqual(skipped, [{ name: 'message', from: 'mallory@evil.example/r', why: 'untrusted' }]);
  assert.ok(grown < 4 * 1024 * 1024, `heap grew by ${grown} bytes while 8 MB streamed past`);
});

test('stanza filter: an element over the limit is skipped even from a trusted sender, and the stream goes on', () => {
  const big = `<message from='me@example.org/grd-1'><body>${'z'.repeat(5000)}</body></message>`;
  const r = run([HEADER, big.slice(0, 3000), big.slice(3000), GOOD]);
  assert.equal(r.delivered, HEADER + GOOD);
  assert.deepEqual(r.skipped, [{ name: 'message', from: 'me@example.org/grd-1', why: 'oversize' }]);
  // A start tag that never ends is over the limit too, and skipped without its name being needed.
  const endless = run([HEADER, `<message from='me@example.org/x' a='`, 'q'.repeat(3000), `'/>`, GOOD]);
  assert.equal(endless.delivered, HEADER + GOOD);
  assert.equal(endless.skipped[0]?.why, 'oversize');
});

test('stanza filter: endless text between elements, or an endless stream header, is too large', () => {
  assert.equal(run([HEADER, ' '.repeat(2000)]).tooLarge, 1);
  assert.ok(run([`<stream:stream a='`, 'h'.repeat(2000)]).tooLarge >= 1);
});
