// The fast path or git ls-remote, decided from the config and the environment; the user agent.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decidePath, userAgent } from '../../workers/http/fallback.js';
import { config } from './config.js';

test('fast path or git ls-remote: conservative about http.* settings and the environment', () => {
  const none = {};
  assert.deepEqual(decidePath('https', 'origin', config([['http.postbuffer', '1m'], ['http.sslverify', 'true']]), none), { fastPath: true, reasons: [] });
  const slow = (entries: [string, string][], env: NodeJS.ProcessEnv = none, scheme: 'http' | 'https' | 'git' = 'https') => decidePath(scheme, 'origin', config(entries), env);
  assert.deepEqual(slow([['http.proxy', 'http://proxy:3128']]).reasons, ['http.proxy is set']);
  assert.deepEqual(slow([['http.sslverify', 'false']]).reasons, ['http.sslVerify is not true']);
  assert.deepEqual(slow([['http.https://example.org/.extraheader', 'X: y']]).reasons, ['http.https://example.org/.extraheader is set']);
  // CA settings are honoured by our request (trust.ts): which per-URL one applies, git says later.
  assert.deepEqual(slow([['http.sslcainfo', '/ca.pem']]), { fastPath: true, reasons: [], ca: { inConfig: true } });
  assert.deepEqual(slow([['http.sslcapath', '/cas']]), { fastPath: true, reasons: [], ca: { inConfig: true } });
  assert.deepEqual(slow([['http.https://example.org/.sslcainfo', '/ca.pem']]), { fastPath: true, reasons: [], ca: { inConfig: true } });
  assert.deepEqual(slow([['http.https://example.org/.sslcert', '/c.pem']]).reasons, ['http.https://example.org/.sslcert is set'], 'other per-URL keys still go to git');
  assert.deepEqual(slow([['http.sslcainfo', '/ca.pem']], none, 'http'), { fastPath: true, reasons: [] }, 'TLS settings do not matter to http://');
  assert.deepEqual(slow([['http.sslcert', '/c.pem']]).reasons, ['http.sslcert is set']);
  assert.equal(slow([['http.cookiefile', '/c']]).fastPath, false);
  assert.equal(slow([['http.somethingnew', 'x']]).fastPath, false, 'unknown keys are not assumed harmless');
  assert.equal(slow([['remote.origin.proxy', 'http://p']]).fastPath, false);
  assert.equal(slow([['remote.other.proxy', 'http://p']]).fastPath, true);
  assert.equal(slow([['protocol.https.allow', 'never']]).fastPath, false);
  assert.equal(slow([], { HTTPS_PROXY: 'http://p' }).fastPath, false);
  assert.equal(slow([], { NO_PROXY: 'example.org' }).fastPath, false);
  assert.deepEqual(slow([], { GIT_SSL_CAINFO: '/ca' }), { fastPath: true, reasons: [], ca: { inConfig: false, caInfoEnv: '/ca' } });
  assert.deepEqual(slow([['http.sslcapath', '/d']], { GIT_SSL_CAINFO: '/ca', GIT_SSL_CAPATH: '/cas' }).ca, { inConfig: true, caInfoEnv: '/ca', caPathEnv: '/cas' });
  assert.deepEqual(slow([], { GIT_SSL_CAINFO: '/ca' }, 'http'), { fastPath: true, reasons: [] });
  assert.deepEqual(slow([], { SSL_CERT_FILE: '/ca' }).reasons, ['SSL_CERT_FILE is set in the environment'], 'OpenSSL/curl defaults are left to git');
  assert.deepEqual(slow([], { GIT_SSL_CERT: '/c' }).reasons, ['GIT_SSL_CERT is set in the environment']);
  assert.equal(slow([['core.gitproxy', 'proxy-cmd']], none, 'git').fastPath, false);
  assert.equal(slow([], { GIT_PROXY_COMMAND: 'x' }, 'git').fastPath, false);
  assert.equal(slow([['http.proxy', 'http://p']], none, 'git').fastPath, true, 'http.* does not apply to git://');
  assert.equal(userAgent(config([['http.useragent', 'corp-git/1']]), none), 'corp-git/1');
  assert.equal(userAgent(config([]), { GIT_HTTP_USER_AGENT: 'env/1' }), 'env/1');
});
