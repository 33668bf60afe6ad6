// Daemon-wide conditions in status, with a real background daemon: a config broken while it runs is
// shown by `status` and `status --json` and makes `status --check` unhealthy; fixed, all of it
// clears without anyone sending RESUME.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventually } from '../support/daemon.js';
import { backgroundFixture, cli, waitForLog } from './support.js';

test('a config broken while running: status shows why it was not reloaded, --check is 2; fixed, both clear', async (t) => {
  const fx = backgroundFixture(t);
  assert.equal((await cli(fx.local, [])).code, 0);
  await waitForLog(fx.paths, 'CONNECTED origin');
  assert.equal((await cli(fx.local, ['status', '--check'])).code, 0);

  const configFile = join(fx.local, '.git', 'config');
  const good = readFileSync(configFile, 'utf8');
  appendFileSync(configFile, '[[[ this is not a config\n');
  await waitForLog(fx.paths, /^WARNING \* RELOAD failed, keeping the current remotes: .*bad config/);
  await eventually(() => readFileSync(fx.paths.state, 'utf8').includes('RELOAD failed'), 'the state file has the condition');

  const status = await cli(fx.local, ['status']);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout.replace(/\n +/g, ' '), /^warning \(\d+s ago\): RELOAD failed, keeping the current remotes: .*bad config/m);
  const check = await cli(fx.local, ['status', '--check']);
  assert.equal(check.code, 2, check.stdout);
  assert.match(check.stdout, /^daemon: RELOAD failed, keeping the current remotes: .*bad config/m);
  const json = JSON.parse((await cli(fx.local, ['status', '--json', '--check'])).stdout) as { healthy: boolean; warnings: { kind: string; text: string }[] };
  assert.equal(json.healthy, false);
  assert.deepEqual(json.warnings.map((w) => w.kind), ['reload']);

  writeFileSync(configFile, good);
  await waitForLog(fx.paths, '# config changed; reloading', 2);
  await eventually(() => !readFileSync(fx.paths.state, 'utf8').includes('RELOAD failed'), 'the condition is gone from the state file');
  const fixed = await cli(fx.local, ['status', '--check']);
  assert.equal(fixed.code, 0, fixed.stdout);
  assert.doesNotMatch((await cli(fx.local, ['status'])).stdout, /warning/);
  assert.equal((await cli(fx.local, ['stop'])).code, 0);
});
