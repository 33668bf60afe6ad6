// Webhook payloads: the repository's URLs in them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { repositoryUrls, parsePayload } from '../../../workers/http/webhook/payload.js';

test('webhook payloads: every URL of the repository, form-encoded too', () => {
  const payload = { repository: { clone_url: 'https://h/o/r.git', ssh_url: 'git@h:o/r.git', html_url: 'https://h/o/r', name: 'r' }, project: { git_http_url: 'https://h/o/r.git' } };
  assert.deepEqual([...repositoryUrls(payload)].sort(), ['https://h/o/r', 'ssh://h/o/r']);
  const form = Buffer.from(new URLSearchParams({ payload: JSON.stringify(payload) }).toString());
  assert.deepEqual(parsePayload(form, 'application/x-www-form-urlencoded'), payload);
  assert.deepEqual([...repositoryUrls('nope')], []);
  assert.deepEqual([...repositoryUrls({ repository: { clone_url: 42 } })], []);
});
