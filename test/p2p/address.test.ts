// workers/p2p/address.ts: a peer's address is its public key, written `p2p://<key>` in z-base-32
// or hex; a fingerprint to read aloud.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addressOf, fingerprint, keyOf, parseKey } from '../../workers/p2p/address.js';

// The key 00..01 (32 bytes): z-base-32 spells 0 as `y`; the last character holds the final bit 1
// and four padding bits (10000 = 16 = `o`).
const HEX = '00'.repeat(31) + '01';
const Z32 = 'y'.repeat(51) + 'o';

test('an address names its key in z-base-32 or hex, the key read back as lower-case hex', () => {
  assert.equal(addressOf(HEX), `p2p://${Z32}`);
  assert.equal(keyOf(`p2p://${Z32}`), HEX);
  assert.equal(keyOf(`p2p://${Z32}/`), HEX, 'a trailing slash');
  assert.equal(keyOf(`  p2p://${Z32}\n`), HEX, 'surrounding white space');
  assert.equal(keyOf(`p2p://${HEX.toUpperCase()}`), HEX, 'hex, upper case');
  const key = 'ab'.repeat(32);
  assert.equal(keyOf(addressOf(key)), key, 'addressOf and keyOf round-trip');
});

test('an address that names no key: wrong scheme, length or alphabet', () => {
  for (const url of [
    `ssh://${Z32}`,
    `p2p://${Z32.slice(1)}`,
    `p2p://${HEX}0`,
    `p2p://${Z32}/repo`,
    `p2p://${'0'.repeat(52)}`, // 52 characters, but 0 is not in z-base-32's alphabet
    'p2p://',
    '',
  ]) {
    assert.equal(keyOf(url), undefined, url);
  }
});

test('a key as config holds it: an address, z-base-32 or hex', () => {
  assert.equal(parseKey(`p2p://${Z32}`), HEX);
  assert.equal(parseKey(Z32), HEX);
  assert.equal(parseKey(` ${HEX} `), HEX);
  assert.equal(parseKey('ssh://host/x'), undefined);
  assert.equal(parseKey('not a key'), undefined);
});

test('a fingerprint: the first 128 bits of the key\'s sha256, 8 groups of 4 hex digits', () => {
  // sha256 of 32 zero bytes is 66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925.
  assert.equal(fingerprint('00'.repeat(32)), '6668 7aad f862 bd77 6c8f c18b 8e9f 8e20');
  assert.match(fingerprint(HEX), /^([0-9a-f]{4} ){7}[0-9a-f]{4}$/);
  assert.notEqual(fingerprint(HEX), fingerprint('00'.repeat(32)));
});
