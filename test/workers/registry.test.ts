// workers/registry.ts: the coordinator's one door into workers/: which transport claims a URL (as
// config reads it, after insteadOf), and the lists status, help and the man page print.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ENDPOINT_OWNERS, NOTICE_CARRIERS, servedKinds, servedUrls, TRANSPORTS, transportFor } from '../../workers/registry.js';

test('each kind of URL goes to the transport that serves it', () => {
  const cases: [string, string][] = [
    ['/srv/git/project.git', 'local'],
    ['../sibling', 'local'],
    ['file:///srv/git/project.git', 'local'],
    ['FILE:///srv/git/project.git', 'local'],
    ['ssh://git@example.org/project.git', 'ssh'],
    ['git+ssh://example.org/project.git', 'ssh'],
    ['git@example.org:project.git', 'ssh'],
    ['git@[::1]:project.git', 'ssh'],
    ['https://example.org/project.git', 'http'],
    ['http://example.org/project.git', 'http'],
    ['git://example.org/project.git', 'http'],
    [`p2p://${'a'.repeat(64)}`, 'p2p'],
  ];
  for (const [url, name] of cases) assert.equal(transportFor(url)?.name, name, url);
});

test('a remote helper URL and an unknown scheme are served by none', () => {
  for (const url of ['ext::ssh -i key example.org %S project', 'p2p::whatever', 'https::example.org', 'ftp://example.org/project.git', 'gopher://example.org/']) {
    assert.equal(transportFor(url), undefined, url);
  }
});

test('names are unique across transports and notice carriers: a shared endpoint is found by name', () => {
  const names = ENDPOINT_OWNERS.map((o) => o.name);
  assert.deepEqual(names, [...TRANSPORTS.map((t) => t.name), ...NOTICE_CARRIERS.map((c) => c.name)]);
  assert.equal(new Set(names).size, names.length, names.join(', '));
});

test('servedKinds lists every transport by name; servedUrls makes one sentence of them', () => {
  assert.equal(servedKinds(), TRANSPORTS.map((t) => t.name).join(', '));
  const lines = servedUrls();
  assert.equal(lines.length, TRANSPORTS.length);
  lines.forEach((line, i) => {
    const t = TRANSPORTS[i];
    assert.ok(line.startsWith(`${t.serves ?? t.name} (${t.name})`), line);
    assert.ok(line.endsWith(i === lines.length - 1 ? '.' : ';'), line);
  });
});
