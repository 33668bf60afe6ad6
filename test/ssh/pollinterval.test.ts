// A changed poll interval over ssh, end to end: the background daemon polls a server without a
// notifier; `git config remotedaemon.pollInterval` (noticed by the config watch) takes effect at
// once: the pending look moves, and status, `status --json` and the WARNING say the new interval.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeSshFixture, push } from './fixture.js';
import { eventually } from '../support/daemon.js';
import { git, refValue } from '../support/git.js';
import { cli, killDaemon, pathsOf, waitForLog } from '../background/support.js';
import type { RemoteView } from '../../src/commands/statusview.js';

async function origin(cwd: string): Promise<RemoteView | undefined> {
  const status = await cli(cwd, ['status', '--json']);
  const parsed = JSON.parse(status.stdout) as { remotes?: RemoteView[] };
  return parsed.remotes?.find((r) => r.name === 'origin');
}

async function statusUntil(cwd: string, what: string, holds: (r: RemoteView | undefined) => boolean, timeoutMs = 15_000): Promise<RemoteView | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await origin(cwd);
    if (holds(r)) return r;
    if (Date.now() > deadline) throw new Error(`status never showed ${what}: ${JSON.stringify(r)}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

test('over ssh: a shortened poll interval takes effect at once and status says it', async (t) => {
  const fx = await makeSshFixture({ serverBin: { gitRemoteDaemon: true } });
  const paths = pathsOf(fx.local);
  t.after(async () => {
    await killDaemon(paths);
    await fx.cleanup();
  });
  git(fx.local, 'config', 'core.sshCommand', fx.sshd.sshCommand);
  git(fx.local, 'config', 'remote.origin.remotedaemon-notifier', 'grd-no-such-notifier notifychanges');
  git(fx.local, 'config', 'remotedaemon.pollInterval', '60');
  assert.equal((await cli(fx.local, [])).code, 0);
  await waitForLog(paths, 'CONNECTED origin', 1, 30_000);
  await waitForLog(paths, /^WARNING origin .*every 60 s/);
  await statusUntil(fx.local, 'polling every 60 s', (r) => r?.watching === 'polling every 60 s');

  git(fx.local, 'config', 'remotedaemon.pollInterval', '1');
  const now = await statusUntil(fx.local, 'polling every 1 s', (r) => r?.watching === 'polling every 1 s');
  assert.ok(now?.nextLookAt !== undefined && now.nextLookAt - Date.now() < 5_000, `the next look moved: ${now?.nextLookAt! - Date.now()} ms away`);
  const warning = now?.warnings?.find((w) => /checking for changes every/.test(w.text));
  assert.match(warning?.text ?? '', /every 1 s/, 'the condition in status names the interval in force');
  const text = (await cli(fx.local, ['status'])).stdout;
  assert.match(text, /polling every 1 s/);
  assert.doesNotMatch(text, /60 s/);

  // And it really polls every second now: a push is fetched long before the old minute is up.
  const pushedAt = Date.now();
  const sha = push(fx);
  await eventually(() => refValue(fx.local, 'refs/remotes/origin/main') === sha, 'a poll noticed the push', 20_000);
  t.diagnostic(`push noticed ${Date.now() - pushedAt} ms later`);
  assert.equal((await cli(fx.local, ['stop'])).code, 0);
});
