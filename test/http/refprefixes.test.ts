// Ref prefixes for ls-refs, from the refspecs' sources.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { refPrefixes, underPrefixes } from '../../workers/http/refprefixes.js';

const A = 'a'.repeat(40);

test('ref prefixes come from the refspecs\' sources', () => {
  assert.deepEqual(refPrefixes(['+refs/heads/*:refs/remotes/origin/*'], false), ['refs/heads/']);
  assert.deepEqual(refPrefixes(['+refs/heads/*:refs/remotes/origin/*'], true), ['refs/heads/', 'refs/tags/']);
  assert.deepEqual(refPrefixes(['refs/heads/main:refs/remotes/origin/main', '+refs/heads/*:refs/remotes/o/*', '^refs/heads/tmp/*'], false), ['refs/heads/']);
  assert.deepEqual(refPrefixes(['+refs/heads/feature-*:refs/remotes/o/feature-*'], false), ['refs/heads/feature-']);
  assert.deepEqual(refPrefixes(['main'], false), ['main', 'refs/heads/main', 'refs/main', 'refs/remotes/main', 'refs/tags/main']);
  assert.deepEqual(refPrefixes([], false), ['HEAD']);
  assert.deepEqual(refPrefixes(['*:refs/all/*'], true), []);
  assert.deepEqual(refPrefixes([`${A}:refs/x`, 'HEAD:refs/remotes/o/HEAD'], false), ['HEAD']);
  const refs = new Map([['refs/heads/a', A], ['refs/tags/v1', A], ['HEAD', A]]);
  assert.deepEqual([...underPrefixes(refs, ['refs/heads/']).keys()], ['refs/heads/a']);
  assert.equal(underPrefixes(refs, []).size, 3);
});
