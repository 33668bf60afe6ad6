// git's URL rules, as the kit tells them apart; the ssh URL parser relies on the same answers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bracketEnd, SSH_SCHEMES, urlKind, type UrlKind } from '../../shared/kit/url.js';
import { parseSshUrl } from '../../workers/ssh/config.js';

const cases: [string, UrlKind][] = [
  ['ext::ssh -p 22 host %S r', { kind: 'helper', helper: 'ext' }],
  ['ssh::host:r', { kind: 'helper', helper: 'ssh' }],
  ['SSH://host/r', { kind: 'scheme', scheme: 'ssh' }],
  ['git+ssh://host/r', { kind: 'scheme', scheme: 'git+ssh' }],
  ['file:///srv/r.git', { kind: 'scheme', scheme: 'file' }],
  ['https://host/r', { kind: 'scheme', scheme: 'https' }],
  ['host:r', { kind: 'scp' }],
  ['u@host:/srv/r', { kind: 'scp' }],
  ['[::1]:r', { kind: 'scp' }],
  ['u@[fe80::1]:r', { kind: 'scp' }],
  ['/srv/r.git', { kind: 'path' }],
  ['./a:b', { kind: 'path' }],
  ['dir/host:path', { kind: 'path' }],
  ['r.git', { kind: 'path' }],
  [':r', { kind: 'path' }],
];

test('urlKind follows git: helper before scheme before scp-like before path', () => {
  for (const [url, kind] of cases) assert.deepEqual(urlKind(url), kind, url);
});

test('bracketEnd skips a [...] host, after an optional user@, and nothing else', () => {
  assert.equal(bracketEnd('[::1]:r'), 5);
  assert.equal(bracketEnd('u@[::1]:r'), 7);
  assert.equal(bracketEnd('host:r'), 0);
  assert.equal(bracketEnd('[unclosed:r'), 0);
  assert.equal(bracketEnd('x[::1]:r'), 0);
});

test('parseSshUrl accepts exactly the ssh schemes and the scp-like form', () => {
  for (const [url, kind] of cases) {
    const ssh = kind.kind === 'scp' || (kind.kind === 'scheme' && SSH_SCHEMES.includes(kind.scheme));
    assert.equal(parseSshUrl(url) !== undefined, ssh, url);
  }
});
