// The http remote's options as a worker reads them: whatever the coordinator sent, plain and complete.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readOptions } from '../../workers/http/options.js';

test('options: defaults for what is missing, wrong types dropped, CA settings kept field by field', () => {
  assert.deepEqual(readOptions({}), { fastPath: true, fallbackReasons: [], userAgent: 'git/2 (git-remote-daemon)', credentialHelpers: [] });
  const full = {
    fastPath: false,
    fallbackReasons: ['http.proxy is set'],
    ca: { inConfig: true, caInfoEnv: '/ca.pem', caPathEnv: '/cas' },
    userAgent: 'corp-git/1',
    credentialHelpers: ['store'],
    limits: { timeoutMs: 500 },
  };
  assert.deepEqual(readOptions(full), full);
  assert.deepEqual(
    readOptions({ fastPath: 'no', fallbackReasons: 'x', userAgent: 7, credentialHelpers: [1, 'cache'], ca: null, limits: 3 }),
    { fastPath: true, fallbackReasons: [], userAgent: 'git/2 (git-remote-daemon)', credentialHelpers: ['1', 'cache'] },
    'only false turns the fast path off; list entries become strings',
  );
  assert.deepEqual(readOptions({ ca: { inConfig: 'yes', caInfoEnv: 5, caPathEnv: '/cas' } }).ca, { inConfig: false, caPathEnv: '/cas' });
});
