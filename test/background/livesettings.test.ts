// Daemon-wide settings changed under a running background daemon take effect at once, through the
// config watch (or RELOAD). Checked at the real servers (git http-backend's request log, Prosody
// behind a counting proxy, the webhook port), never by what the daemon says of itself alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { postGitHubPush, push } from '../http/fixture.js';
import { git, refValue, tempDir } from '../support/git.js';
import { freePort } from '../support/ports.js';
import { eventually } from '../support/daemon.js';
import { logLines, waitForLog } from './support.js';
import { accepts, ORIGIN_MAIN, SECRET, served, watching } from './livesupport.js';

test('webhook turned on under a running daemon: its http remote is linked at once; turned off: it polls at the normal interval again; the poll interval moves at once', async (t) => {
  const s = await served(t, (repos) => git(repos.local, 'config', 'remotedaemon.pollInterval', '5'));
  await s.untilStatus('plain polling', (st) => watching(st) === 'polling every 5 s');

  const port = await freePort();
  git(s.repos.local, 'config', 'remotedaemon.webhook.secret', SECRET);
  git(s.repos.local, 'config', 'remotedaemon.webhook.listen', `127.0.0.1:${port}`);
  // No RELOAD: the config watch applies it. The remote hears of the receiver without a restart.
  await s.untilStatus('the remote behind the webhook', (st) => watching(st) === 'webhook + polling every 50 s');
  const sha = push(s.repos);
  assert.equal(await postGitHubPush(port, s.url, SECRET, 'on-1'), 202, 'the receiver knows the running remote');
  await waitForLog(s.paths, 'DONESYNCING origin 1', 1, 10_000);
  assert.equal(refValue(s.repos.local, ORIGIN_MAIN), sha);

  git(s.repos.local, 'config', '--unset', 'remotedaemon.webhook.listen');
  await s.untilStatus('plain polling again', (st) => watching(st) === 'polling every 5 s');
  assert.equal(await accepts(port), false, 'the receiver no longer listens');
  const sha2 = push(s.repos);
  // Polling every 5 s (not the 50 s of a webhook's safety net) brings it.
  await waitForLog(s.paths, 'DONESYNCING origin 1', 2, 15_000);
  assert.equal(refValue(s.repos.local, ORIGIN_MAIN), sha2);

  // The daemon-wide poll interval: the pending look moves to the new one at once.
  git(s.repos.local, 'config', 'remotedaemon.pollInterval', '1');
  await s.untilStatus('the new interval', (st) => watching(st) === 'polling every 1 s');
  const before = s.server.requests.length;
  // Every 1 s now: five listings within 15 s, which the old 5 s interval could not give.
  await s.server.untilRequests(before + 5, 15_000);
  assert.equal(logLines(s.paths).filter((l) => l === 'CONNECTED origin').length, 1, 'no setting restarted the remote');
});

test('remotedaemon.metricsFile set, moved and unset under a running daemon: the file appears, moves, and goes', async (t) => {
  const s = await served(t, () => {});
  const dir = tempDir('grd-metrics-');
  t.after(() => dir.cleanup());
  const first = join(dir.path, 'first.prom');
  const second = join(dir.path, 'second.prom');
  git(s.repos.local, 'config', 'remotedaemon.metricsFile', first);
  await eventually(() => existsSync(first) && readFileSync(first, 'utf8').includes('remote="origin"'), 'the file appears', 15_000);
  git(s.repos.local, 'config', 'remotedaemon.metricsFile', second);
  await eventually(() => existsSync(second) && !existsSync(first), 'the file moves', 15_000);
  git(s.repos.local, 'config', '--unset', 'remotedaemon.metricsFile');
  await eventually(() => !existsSync(second), 'the file goes', 15_000);
});

