// The CAs our own https request trusts: the URL git's per-URL settings are matched against, and the
// CA file and directory read as curl reads them, refused with a reason where Node cannot follow.
// (tls.test.ts runs the request against a TLS server; these settings come from the environment, so
// git's config is not asked.)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { resolveTrust, urlForMatching } from '../../workers/http/trust.js';
import { parseRemoteUrl } from '../../workers/http/urls.js';
import { tempDir } from '../support/git.js';

const url = parseRemoteUrl('https://bob:secret@example.org:8443/o/r.git')!;

test('trust: the URL for git\'s matching keeps the user, never the password', () => {
  assert.equal(urlForMatching(url), 'https://bob@example.org:8443/o/r.git/');
  assert.equal(urlForMatching(parseRemoteUrl('https://example.org/r')!), 'https://example.org/r/');
});

test('trust: no CA settings trust Node\'s roots; unusable CA files and directories are refused with the reason', async (t) => {
  const temp = tempDir();
  t.after(() => temp.cleanup());
  const dir = temp.path;
  const signal = new AbortController().signal;
  const resolve = (caInfoEnv?: string, caPathEnv?: string) =>
    resolveTrust(url, dir, { inConfig: false, ...(caInfoEnv !== undefined && { caInfoEnv }), ...(caPathEnv !== undefined && { caPathEnv }) }, signal);
  assert.deepEqual(await resolve(), { ok: true, ca: [...rootCertificates] });
  assert.deepEqual(await resolve(''), { ok: false, reason: 'http.sslCAInfo is empty' });
  writeFileSync(join(dir, 'plain.txt'), 'not a certificate');
  assert.deepEqual(await resolve('plain.txt'), { ok: false, reason: `http.sslCAInfo ${join(dir, 'plain.txt')} holds no PEM certificate` }, 'relative to git\'s directory');
  assert.match((await resolve('/nonexistent/ca.pem') as { reason: string }).reason, /^http\.sslCAInfo \/nonexistent\/ca\.pem cannot be read \(ENOENT\)$/);
  assert.match((await resolve(undefined, '/nonexistent/cas') as { reason: string }).reason, /^http\.sslCAPath \/nonexistent\/cas cannot be read \(ENOENT\)$/);
  // A CA directory adds only its hashed names' certificates (OpenSSL's lookup names), to the roots.
  mkdirSync(join(dir, 'cas'));
  writeFileSync(join(dir, 'cas', 'readme'), '-----BEGIN CERTIFICATE-----');
  assert.deepEqual(await resolve(undefined, 'cas'), { ok: true, ca: [...rootCertificates] });
  writeFileSync(join(dir, 'cas', '0123abcd.0'), rootCertificates[0]);
  assert.deepEqual(await resolve(undefined, 'cas'), { ok: true, ca: [...rootCertificates, rootCertificates[0]] }, 'a hashed name is read');
  writeFileSync(join(dir, 'ca.pem'), rootCertificates[1]);
  assert.deepEqual(await resolve('ca.pem', 'cas'), { ok: true, ca: [rootCertificates[1], rootCertificates[0]] }, 'a CA file replaces the roots');
  // A certificate whose body is broken between good BEGIN/END lines: refused, not skipped.
  const broken = rootCertificates[2]!.replace(/\n([A-Za-z0-9+/]{20})/, '\n!!!!$1');
  writeFileSync(join(dir, 'broken.pem'), `${rootCertificates[1]}\n${broken}\n`);
  assert.match((await resolve('broken.pem') as { reason: string }).reason ?? '', /^Node cannot read its CA certificates \(/);
});
