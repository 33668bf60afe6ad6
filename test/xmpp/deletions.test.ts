// A branch deleted on the shared remote travels like a moved one: the device that pushed the
// deletion says so (the all-zero id), and a device that prunes drops its tracking ref at once,
// not at its next poll (600 s here, and the ssh server has no notifier).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from '../support/daemon.js';
import { refValue } from '../support/git.js';
import { gitEnv } from '../ssh/fixture.js';
import { makeDevices, seeEachOther } from './devices.js';

test('xmpp: a branch deleted from device A is pruned on device B at once, where B prunes', async (t) => {
  const dev = await makeDevices(t, { smacks: true });
  const env = dev.fx.sshEnv;
  gitEnv(dev.a, env, 'push', '-q', 'origin', 'HEAD:refs/heads/topic');
  gitEnv(dev.b, env, 'fetch', '-q', 'origin');
  gitEnv(dev.b, {}, 'config', 'remote.origin.prune', 'true');
  assert.ok(refValue(dev.b, 'refs/remotes/origin/topic'), 'B tracks topic before the deletion');

  const a = dev.start(dev.a);
  const b = dev.start(dev.b);
  await Promise.all([a.waitFor('CONNECTED origin', { timeoutMs: 20_000 }), b.waitFor('CONNECTED origin', { timeoutMs: 20_000 })]);
  await seeEachOther(a, b);

  gitEnv(dev.a, env, 'push', '-q', 'origin', ':refs/heads/topic');
  await eventually(() => a.stderr.some((l) => /notices: tracking refs moved: refs\/heads\/topic 000000000000/.test(l)), 'A announces the deletion', 15_000);
  await eventually(() => refValue(dev.b, 'refs/remotes/origin/topic') === undefined, 'B pruned origin/topic', 15_000).catch((err: Error) =>
    assert.fail(`${err.message}; B said:\n${b.stderr.slice(-15).join('\n')}`),
  );
  assert.ok(refValue(dev.b, 'refs/remotes/origin/main'), 'and kept the rest');
});
