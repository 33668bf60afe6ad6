// The webhook receiver's settings, from the config.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ownSecret, parseListen, webhookSettings } from '../../../workers/http/webhook/settings.js';
import { config } from '../config.js';
import { tempDir } from '../../support/git.js';

test('webhook settings: off unless listen is set; loopback unless allowed; a secret required', () => {
  assert.equal(webhookSettings(config([])), undefined);
  assert.deepEqual(webhookSettings(config([['remotedaemon.webhook.listen', '127.0.0.1:9000'], ['remotedaemon.webhook.secret', 's']])), {
    settings: { listen: { host: '127.0.0.1', port: 9000 }, secret: 's' },
  });
  assert.deepEqual(parseListen('9000'), { host: '127.0.0.1', port: 9000 });
  assert.deepEqual(parseListen('[::1]:9000'), { host: '::1', port: 9000 });
  assert.equal(parseListen('host:99999'), undefined);
  assert.equal(parseListen('a b:1'), undefined);
  const remote = webhookSettings(config([['remotedaemon.webhook.listen', '0.0.0.0:9000'], ['remotedaemon.webhook.secret', 's']]))!;
  assert.equal(remote.settings.listen, null);
  assert.match(remote.problems![0], /not a loopback address/);
  const allowed = webhookSettings(config([['remotedaemon.webhook.listen', '0.0.0.0:9000'], ['remotedaemon.webhook.secret', 's'], ['remotedaemon.webhook.allowremote', 'true']]))!;
  assert.deepEqual(allowed.settings.listen, { host: '0.0.0.0', port: 9000 });
  const secretless = webhookSettings(config([['remotedaemon.webhook.listen', '9000']]))!;
  assert.equal(secretless.settings.listen, null);
  assert.match(secretless.problems![0], /secret/);
  const file = webhookSettings(config([['remotedaemon.webhook.listen', '9000'], ['remotedaemon.webhook.secretfile', '/etc/hook-secret']]))!;
  assert.deepEqual(file.settings, { listen: { host: '127.0.0.1', port: 9000 }, secretFile: '/etc/hook-secret' });
});

test("a repository's own secret: inline, or from a file only its owner can read; a file others can read refuses it, never saying the secret", () => {
  const dir = tempDir();
  try {
    const file = join(dir.path, 'secret');
    writeFileSync(file, 'file-secret\n');
    chmodSync(file, 0o600);
    assert.deepEqual(ownSecret({ listen: null, secret: 'inline' }), { secret: 'inline' });
    assert.deepEqual(ownSecret({ listen: null, secretFile: file }), { secret: 'file-secret' });
    assert.deepEqual(ownSecret({ listen: null }), {}, 'none set: said as a config problem already');
    chmodSync(file, 0o640);
    assert.throws(() => ownSecret({ listen: null, secretFile: file }), (err: Error) => /^the webhook secret: .* is readable by others \(mode 640\); chmod 600 it$/.test(err.message) && !err.message.includes('file-secret'));
    assert.throws(() => ownSecret({ listen: null, secretFile: join(dir.path, 'missing') }), /^Error: the webhook secret: ENOENT/);
    writeFileSync(file, '\n');
    chmodSync(file, 0o600);
    assert.throws(() => ownSecret({ listen: null, secretFile: file }), /the webhook secret is empty/);
  } finally {
    dir.cleanup();
  }
});
