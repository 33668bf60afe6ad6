// Remote URLs: parsed, normalised for matching, redacted.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normaliseRepoUrl, parseRemoteUrl, redactUrl } from '../../workers/http/urls.js';

test('URLs: parsed without userinfo, normalised for matching, redacted', () => {
  const url = parseRemoteUrl('HTTPS://bob:p%40ss@Example.ORG:443/Owner/Repo.git/')!;
  assert.deepEqual(url, { scheme: 'https', host: 'example.org', path: '/Owner/Repo.git', username: 'bob', password: 'p@ss', display: 'https://example.org/Owner/Repo.git' });
  assert.equal(parseRemoteUrl('git://example.org:9419/r.git')!.port, 9419);
  assert.equal(parseRemoteUrl('ssh://example.org/r.git'), undefined);
  const same = [
    'https://github.com/Owner/Repo',
    'https://github.com/Owner/Repo.git',
    'https://user:token@GitHub.com/Owner/Repo.git/',
    'https://github.com:443/Owner/Repo/',
  ];
  for (const u of same) assert.equal(normaliseRepoUrl(u), 'https://github.com/Owner/Repo', u);
  assert.equal(normaliseRepoUrl('git@github.com:Owner/Repo.git'), 'ssh://github.com/Owner/Repo');
  assert.equal(normaliseRepoUrl('ssh://git@github.com/Owner/Repo.git'), 'ssh://github.com/Owner/Repo');
  assert.equal(normaliseRepoUrl('git://github.com/Owner/Repo.git'), 'git://github.com/Owner/Repo');
  assert.notEqual(normaliseRepoUrl('https://github.com/owner/repo'), normaliseRepoUrl('https://github.com/Owner/Repo'), 'paths keep their case');
  assert.equal(redactUrl('https://u:p@h/x'), 'https://h/x');
});
