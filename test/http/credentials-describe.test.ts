// What is asked of git credential for a URL. (credentials.test.ts runs the helpers against a git http
// server.)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describe as describeCredential } from '../../workers/http/credentials.js';
import { parseRemoteUrl } from '../../workers/http/urls.js';

test('credential descriptions: path always (git drops it unless useHttpPath), userinfo passed on', () => {
  assert.equal(describeCredential(parseRemoteUrl('https://bob@example.org:8443/a/b.git')!), 'protocol=https\nhost=example.org:8443\npath=a/b.git\nusername=bob\n\n');
});
