// The Prometheus textfile: what it counts, that it is valid exposition format, and that a real
// daemon keeps it current and removes it when it stops.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { git, pushCommit, tempDir } from '../support/git.js';
import { eventually } from '../support/daemon.js';
import { Metrics, escapeLabel } from '../../src/background/metrics.js';
import { backgroundFixture, cli, waitForLog } from './support.js';

/** Checks the exposition format line by line: HELP and TYPE before each family's samples. */
function assertExposition(text: string): void {
  assert.ok(text.endsWith('\n'));
  let family = '';
  for (const line of text.slice(0, -1).split('\n')) {
    const meta = /^# (HELP|TYPE) ([a-z_]+) (.+)$/.exec(line);
    if (meta) {
      if (meta[1] === 'HELP') family = meta[2];
      else assert.match(meta[3], /^(gauge|counter)$/);
      assert.equal(meta[2], family, line);
      continue;
    }
    const sample = /^([a-z_]+)\{((?:[a-z_]+="(?:[^"\\\n]|\\[\\"n])*",?)*)\} (-?\d+(?:\.\d+)?)$/.exec(line);
    assert.ok(sample, `a valid sample line: ${line}`);
    assert.equal(sample[1], family, line);
  }
}

test('counts connections, reconnects, fetches by result and worker restarts, per configured remote', () => {
  const m = new Metrics('/srv/repo "quoted"\\path');
  m.setRemotes(['origin', 'usb']);
  m.observe({ type: 'CONNECTED', remote: 'origin' });
  m.observe({ type: 'DONESYNCING', remote: 'origin', ok: true }, 1_700_000_000_500);
  m.observe({ type: 'DONESYNCING', remote: 'origin', ok: false });
  m.observe({ type: 'DISCONNECTED', remote: 'origin' });
  m.observe({ type: 'CONNECTED', remote: 'origin' });
  m.restarted('usb');
  assert.equal(m.observe({ type: 'WARNING', remote: 'usb', text: 'worker failed (boom); restarting in 1.0 s' }), false, 'no count read from a text');
  m.observe({ type: 'CONNECTED', remote: 'removed' });
  const text = m.render();
  assertExposition(text);
  const l = (remote: string) => `repository="/srv/repo \\"quoted\\"\\\\path",remote="${remote}"`;
  for (const line of [
    `git_remote_daemon_remote_connected{${l('origin')}} 1`,
    `git_remote_daemon_remote_connected{${l('usb')}} 0`,
    `git_remote_daemon_fetches_total{${l('origin')},result="success"} 1`,
    `git_remote_daemon_fetches_total{${l('origin')},result="failure"} 1`,
    `git_remote_daemon_last_successful_fetch_timestamp_seconds{${l('origin')}} 1700000000`,
    `git_remote_daemon_reconnects_total{${l('origin')}} 1`,
    `git_remote_daemon_worker_restarts_total{${l('usb')}} 1`,
  ]) {
    assert.ok(text.split('\n').includes(line), `${line}\nin:\n${text}`);
  }
  assert.doesNotMatch(text, /removed/, 'only configured remotes');
  assert.doesNotMatch(text, /last_successful_fetch_timestamp_seconds\{[^}]*usb/, 'absent before the first success');
  assert.equal(escapeLabel('a\nb'), 'a\\nb');
});

test('a daemon with remotedaemon.metricsFile keeps the file current and removes it when it stops', async (t) => {
  const fx = backgroundFixture(t);
  const dir = tempDir();
  t.after(() => dir.cleanup());
  const file = join(dir.path, 'repo.prom');
  git(fx.local, 'config', 'remotedaemon.metricsFile', file);
  assert.equal((await cli(fx.local, [])).code, 0);
  await waitForLog(fx.paths, 'CONNECTED origin');
  pushCommit(fx.pusher);
  await waitForLog(fx.paths, 'DONESYNCING origin 1');
  const labels = `repository="${fx.local}",remote="origin"`;
  await eventually(() => existsSync(file) && readFileSync(file, 'utf8').includes(`git_remote_daemon_fetches_total{${labels},result="success"} 1\n`), 'the fetch is counted');
  const text = readFileSync(file, 'utf8');
  assertExposition(text);
  assert.ok(text.includes(`git_remote_daemon_remote_connected{${labels}} 1\n`));
  assert.deepEqual(readdirSync(dir.path), ['repo.prom'], 'no temporary file left beside it');
  assert.equal((await cli(fx.local, ['stop'])).code, 0);
  assert.equal(existsSync(file), false);
});
