// The webhook receiver's settings, from the config.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseListen, webhookSettings } from '../../../workers/http/webhook/settings.js';
import { config } from '../config.js';

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
