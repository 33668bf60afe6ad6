// What status shows of the XMPP link, with real daemons in the background as users run them: a
// server that cannot be reached is a daemon-wide condition with the system's reason, and
// `status --check` is unhealthy until it clears; the count of other devices follows their presence
// as it changes, with no notice sent or heard.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { eventually } from '../support/daemon.js';
import { git } from '../support/git.js';
import { freePort } from '../support/ports.js';
import { backgroundFixture, cli, pathsOf, waitForLog } from '../background/support.js';
import { readState } from '../../src/background/state.js';
import { formatStatus, type StateView } from '../../src/commands/statusview.js';
import { loggedInAs, makeDevices } from './devices.js';

/**
 * `status` once the state file says what `match` looks for (read in-process, as often as
 * `eventually` looks, instead of a CLI process each time); long lines joined again.
 */
async function statusUntil(repo: string, match: RegExp, timeoutMs = 20_000): Promise<string> {
  const file = pathsOf(repo).state;
  const shown = () => {
    const state = readState(file);
    return state ? formatStatus(state as unknown as StateView, Date.now()).replace(/\n +/g, ' ') : '';
  };
  await eventually(() => match.test(shown()), `status shows ${match}; it shows:\n${shown()}`, timeoutMs);
  const text = (await cli(repo, ['status'])).stdout.replace(/\n +/g, ' ');
  assert.match(text, match);
  return text;
}

test('xmpp: a server nothing listens on, then a host that does not resolve: status says why, --check is 2; XMPP off, healthy', async (t) => {
  const fx = backgroundFixture(t);
  const port = await freePort();
  git(fx.local, 'config', 'remotedaemon.xmpp.jid', 'me@localhost');
  git(fx.local, 'config', 'remotedaemon.xmpp.service', `xmpp://127.0.0.1:${port}`);
  assert.equal((await cli(fx.local, [])).code, 0);
  await waitForLog(fx.paths, 'CONNECTED origin');
  await waitForLog(fx.paths, /^WARNING \* xmpp endpoint: cannot reach the XMPP server: connection refused \(ECONNREFUSED 127\.0\.0\.1:\d+\); retrying with backoff$/);
  const refused = await statusUntil(fx.local, /^xmpp: not connected as me@localhost: cannot reach the XMPP server: connection refused/m);
  assert.match(refused, /^warning \(\d+s ago\): xmpp endpoint: cannot reach the XMPP server: connection refused \(ECONNREFUSED 127\.0\.0\.1:\d+\)/m);
  const check = await cli(fx.local, ['status', '--check']);
  assert.equal(check.code, 2, check.stdout);
  assert.match(check.stdout, /^daemon: xmpp endpoint: cannot reach the XMPP server: connection refused/m);

  git(fx.local, 'config', 'remotedaemon.xmpp.service', 'xmpp://no-such-host.invalid:5222');
  await statusUntil(fx.local, /^warning \(\d+s ago\): xmpp endpoint: cannot reach the XMPP server: no such host \(ENOTFOUND no-such-host\.invalid\)/m);
  const unresolved = await cli(fx.local, ['status', '--check']);
  assert.equal(unresolved.code, 2, unresolved.stdout);
  assert.match(unresolved.stdout, /^daemon: xmpp endpoint: cannot reach the XMPP server: no such host/m);

  git(fx.local, 'config', '--unset', 'remotedaemon.xmpp.jid');
  await eventually(() => !readFileSync(fx.paths.state, 'utf8').includes('cannot reach'), 'the condition went with the endpoint');
  const healthy = await cli(fx.local, ['status', '--check']);
  assert.equal(healthy.code, 0, healthy.stdout);
  assert.equal((await cli(fx.local, ['stop'])).code, 0);
});

test('xmpp: another device of the account coming online or going raises and lowers the count in status, with no notice', async (t) => {
  const dev = await makeDevices(t, { smacks: true });
  const started = await cli(dev.b, [], dev.env);
  assert.equal(started.code, 0, started.stderr);
  // Stopped here rather than in an after hook: those run after the fixture's directories are gone.
  try {
    await statusUntil(dev.b, /^xmpp: connected as me@localhost\/grd-[0-9a-f]{8}, 0 other device\(s\) listening/m);
    const a = dev.start(dev.a);
    await loggedInAs(a);
    const one = await statusUntil(dev.b, /^xmpp: connected as me@localhost\/grd-[0-9a-f]{8}, 1 other device\(s\) listening/m);
    assert.doesNotMatch(one, /last notice (sent|heard)/, 'no notice went either way');
    await a.stop();
    const none = await statusUntil(dev.b, /^xmpp: connected as me@localhost\/grd-[0-9a-f]{8}, 0 other device\(s\) listening/m);
    assert.doesNotMatch(none, /last notice (sent|heard)/);
  } finally {
    await cli(dev.b, ['stop']);
  }
});
