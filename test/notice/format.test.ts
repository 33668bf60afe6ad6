// workers/notice/format.ts: one spelling per repository address, and strict, bounded decoding of a
// notice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeNotice, encodeNotice, MAX_NOTICE_BYTES, normaliseUrl } from '../../workers/notice/format.js';

const SHA = 'a'.repeat(40);

test('the same repository, however its URL is written, normalises to one string', () => {
  const same = [
    'git@github.com:a/b.git',
    'ssh://git@github.com/a/b',
    'ssh://git@GitHub.com:22/a/b.git/',
    'https://user:tok3n@github.com/a/b.git',
    'HTTPS://github.com/a/b/',
    'git+ssh://github.com/a/b',
    'git://github.com/a/b.git',
  ];
  for (const url of same) assert.equal(normaliseUrl(url), 'github.com/a/b', url);
  assert.notEqual(normaliseUrl('git@github.com:a/c.git'), 'github.com/a/b');
  assert.equal(normaliseUrl('/srv/git/x.git'), '/srv/git/x');
  assert.equal(normaliseUrl('file:///srv/git/x.git/'), '/srv/git/x');
  assert.equal(normaliseUrl('ssh://u@[::1]:2222/r.git'), '::1/r');
  assert.equal(normaliseUrl('../relative'), undefined, 'a relative path names nothing another device shares');
  assert.equal(normaliseUrl('gcrypt::rsync://host/x'), undefined);
  assert.ok(!normaliseUrl('https://user:secret@host/x')!.includes('secret'), 'no credentials in a notice');
});

test('a notice decodes only when exactly right, and never past its bounds', () => {
  const notice = { url: 'github.com/a/b', refs: [['refs/heads/main', SHA]] as [string, string][] };
  assert.deepEqual(decodeNotice(encodeNotice(notice)), notice);
  const bad = [
    'not json',
    'null',
    JSON.stringify({ v: 2, url: 'x', refs: {} }),
    JSON.stringify({ v: 1, url: '', refs: {} }),
    JSON.stringify({ v: 1, url: 'x', refs: [] }),
    JSON.stringify({ v: 1, url: 'x', refs: { 'refs/heads/main': 'nothex' } }),
    JSON.stringify({ v: 1, url: 'x', refs: { 'heads/main': SHA } }),
    JSON.stringify({ v: 1, url: 'x', refs: { 'refs/heads/a b': SHA } }),
    JSON.stringify({ v: 1, url: 'x', refs: { 'refs/../x': SHA } }),
    JSON.stringify({ v: 1, url: 'x', refs: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`refs/heads/b${i}`, SHA])) }),
    JSON.stringify({ v: 1, url: 'x'.repeat(MAX_NOTICE_BYTES), refs: {} }),
  ];
  for (const text of bad) assert.equal(decodeNotice(text), undefined, text.slice(0, 80));
  const many = { url: 'u', refs: Array.from({ length: 100 }, (_, i) => [`refs/heads/b${i}`, SHA] as [string, string]) };
  assert.equal(decodeNotice(encodeNotice(many))!.refs.length, 64, 'an encoder keeps to the bound the decoder enforces');
});
