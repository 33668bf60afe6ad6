// The http plugin: the URLs it claims, the options it makes of the config.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { httpPlugin } from '../../workers/http/plugin.js';
import { helperNames } from '../../workers/http/credentials.js';
import { urlKind } from '../../shared/kit/url.js';
import { config } from './config.js';

test('the plugin claims http, https and git URLs and turns config into plain options', () => {
  assert.equal(httpPlugin.name, 'http');
  assert.equal(httpPlugin.network, true);
  for (const [url, claimed] of [
    ['https://example.org/r.git', true],
    ['HTTP://example.org/r.git', true],
    ['git://example.org/r.git', true],
    ['ssh://example.org/r.git', false],
    ['example.org:r.git', false],
    ['/srv/r.git', false],
    ['https::example', false],
  ] as const) {
    assert.equal(httpPlugin.claims(url, urlKind(url)), claimed, url);
  }
  const cfg = config([['credential.helper', 'store --file /secret/place'], ['credential.helper', '!f() { echo password=hunter2; }; f']]);
  const decided = httpPlugin.remoteOptions!({ name: 'origin', url: 'https://example.org/r.git', config: cfg, env: {}, get: () => undefined });
  assert.ok('options' in decided);
  assert.deepEqual(decided.options, { fastPath: true, fallbackReasons: [], userAgent: 'git/2 (git-remote-daemon)', credentialHelpers: ['store', 'a shell command'] });
  assert.ok(!JSON.stringify(decided).includes('hunter2'));
  assert.deepEqual(structuredClone(decided.options), decided.options, 'plain data');
  assert.deepEqual(helperNames(config([['credential.helper', 'cache'], ['credential.helper', ''], ['credential.helper', 'store']])), ['store']);
  const bad = httpPlugin.remoteOptions!({ name: 'o', url: 'https://user:pw@[bad/r', config: cfg, env: {}, get: () => undefined });
  assert.ok('ignore' in bad && !bad.ignore.includes('pw'));
});
