import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FetchRefspecs, parseRefspec } from '../../shared/refs/refspec.js';

test('destinations follow git refspec rules', () => {
  const specs = new FetchRefspecs([
    '+refs/heads/*:refs/remotes/origin/*',
    'refs/tags/v*:refs/tags/v*',
    '^refs/heads/secret/*',
    'refs/notes/commits',
    'main:refs/remotes/origin/the-main',
  ]);
  const table: [string, string | null | undefined][] = [
    ['refs/heads/main', 'refs/remotes/origin/main'],
    ['refs/heads/topic/deep', 'refs/remotes/origin/topic/deep'],
    ['refs/heads/secret/plan', undefined],
    ['refs/tags/v1.0', 'refs/tags/v1.0'],
    ['refs/tags/release', undefined],
    ['refs/notes/commits', null],
    ['refs/pull/1/head', undefined],
  ];
  for (const [ref, dst] of table) assert.equal(specs.destination(ref), dst, ref);
  assert.deepEqual(specs.destinationPrefixes(), ['refs/remotes/origin/', 'refs/tags/', 'refs/remotes/origin/the-main']);
});

test('malformed refspecs are skipped', () => {
  for (const bad of ['', '+', 'a*b*:c*d*', 'refs/heads/*:refs/x', '^a:b']) assert.equal(parseRefspec(bad), undefined, bad);
});
