// workers/p2p/refnames.ts: which ref names a peer node advertises and a notice may name. Whatever
// a peer sends through it is untrusted text: only branches and tags, within MAX_NAME, and nothing
// git itself would refuse as a ref name (or read as a revision expression) passes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { advertisable, MAX_NAME } from '../../workers/p2p/refnames.js';

test('branches and tags pass, nested and with the punctuation git allows', () => {
  for (const ref of ['refs/heads/main', 'refs/tags/v1.0', 'refs/heads/feature/x-y_z', 'refs/heads/a.b', 'refs/tags/1+2=3', 'refs/heads/ü']) {
    assert.equal(advertisable(ref), true, ref);
  }
});

test('other namespaces and names that are not refs do not', () => {
  for (const ref of ['HEAD', 'refs/remotes/origin/main', 'refs/notes/commits', 'refs/pull/1/head', 'refs/heads/', 'refs/heads', 'heads/main', 'main', '', ' refs/heads/main']) {
    assert.equal(advertisable(ref), false, JSON.stringify(ref));
  }
});

test("names git refuses or would read as revision syntax are refused", () => {
  const bad = [
    'refs/heads/a..b', // range syntax
    'refs/heads/a@{1}', // reflog syntax
    'refs/heads/a.lock',
    'refs/heads/a/',
    'refs/heads/a b',
    'refs/heads/a\tb',
    'refs/heads/a\nrefs/heads/b', // a second line smuggled into a listing
    'refs/heads/a\0b',
    'refs/heads/a\x7fb',
    'refs/heads/a~1',
    'refs/heads/a^',
    'refs/heads/a:b',
    'refs/heads/a?',
    'refs/heads/a*',
    'refs/heads/a[b',
    'refs/heads/a\\b',
  ];
  for (const ref of bad) assert.equal(advertisable(ref), false, JSON.stringify(ref));
});

test('a name is held to MAX_NAME characters', () => {
  const at = `refs/heads/${'x'.repeat(MAX_NAME - 'refs/heads/'.length)}`;
  assert.equal(at.length, MAX_NAME);
  assert.equal(advertisable(at), true);
  assert.equal(advertisable(`${at}x`), false);
});

test('what is not a string is not a ref name, whatever a peer decoded', () => {
  for (const value of [undefined, null, 42, ['refs/heads/main'], { toString: () => 'refs/heads/main' }, Buffer.from('refs/heads/main')]) {
    assert.equal(advertisable(value), false, String(value));
  }
});
