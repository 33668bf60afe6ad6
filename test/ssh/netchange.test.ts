// After a change of network, an ssh remote that was backing off tries at once instead of waiting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Coordinator } from '../../src/coordinator.js';
import { findRepo } from '../../src/config.js';
import { formatEmitted } from '../../src/protocol.js';
import { eventually } from '../support/daemon.js';
import { git } from '../support/git.js';
import { makeSshFixture } from './fixture.js';

test('over ssh: a network change ends the backoff, and the remote reconnects at once', async (t) => {
  const fx = await makeSshFixture({ serverBin: { gitRemoteDaemon: true } });
  t.after(() => fx.cleanup());
  git(fx.local, 'config', 'core.sshCommand', fx.sshd.sshCommand);
  const lines: string[] = [];
  const coordinator = new Coordinator({ repo: await findRepo(fx.local), emit: (m) => lines.push(formatEmitted(m)), log: () => {}, env: {} });
  t.after(() => coordinator.stop());
  // The server is down from the start: a remote that never caught up backs off further with each
  // failure (one that lost a healthy connection would keep retrying at the shortest delay a while).
  await fx.sshd.stop();
  await coordinator.start();
  // Let failures pile up until the next attempt is several seconds away.
  const farOff = () => {
    const phase = coordinator.status()[0]!.phase;
    return phase.kind === 'backoff' && phase.until - Date.now() > 3000;
  };
  await eventually(farOff, 'a backoff of more than 3 s', 30_000);
  await fx.sshd.start();
  const changedAt = Date.now();
  coordinator.networkChanged('test: a new default route');
  await eventually(() => lines.includes('CONNECTED origin'), 'connected', 10_000);
  assert.ok(Date.now() - changedAt < 3000, `reconnected ${Date.now() - changedAt} ms after the change`);
});
