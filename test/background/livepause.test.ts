// PAUSE keeps everything off the network whatever a reload asks, and XMPP turned on and off under a
// running daemon; checked at the real servers (Prosody behind a counting proxy, git http-backend's
// request log, the webhook port). Apart from livesettings.test.ts to keep each file short.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { postGitHubPush, push } from '../http/fixture.js';
import { git, refValue } from '../support/git.js';
import { freePort } from '../support/ports.js';
import { cli, waitForLog } from './support.js';
import { PAUSED_ENDPOINT } from '../../src/endpoints.js';
import { accepts, ORIGIN_MAIN, SECRET, sendNotice, served, watching, xmppServer } from './livesupport.js';

test('XMPP account set and unset under a running daemon: it logs in and notices are heard; unset, it logs out', async (t) => {
  const x = await xmppServer(t);
  const s = await served(t, (repos) => git(repos.local, 'config', 'remote.origin.remotedaemon-pollInterval', '600'), { NODE_EXTRA_CA_CERTS: x.prosody.caFile });
  assert.equal(x.proxy.accepted, 0);
  git(s.repos.local, 'config', 'remotedaemon.xmpp.service', `xmpp://127.0.0.1:${x.proxy.port}`);
  git(s.repos.local, 'config', 'remotedaemon.xmpp.passwordFile', x.passwordFile);
  git(s.repos.local, 'config', 'remotedaemon.xmpp.jid', 'me@localhost');
  const [line] = await waitForLog(s.paths, /xmpp endpoint: logged in as \S+;/, 1, 45_000);
  const jid = /logged in as (\S+);/.exec(line!)![1]!;
  assert.ok(x.proxy.open >= 1, 'logged in through the server');
  await s.untilStatus('the account in status', (st) => st.endpoints.some((e) => e.name === 'xmpp' && /^connected as /.test(e.summary)));

  // The remote is polled every 600 s: only the notice can bring this push within seconds.
  const sha = push(s.repos);
  await sendNotice(x.prosody, jid, s.url, sha);
  await waitForLog(s.paths, 'DONESYNCING origin 1', 1, 15_000);
  assert.equal(refValue(s.repos.local, ORIGIN_MAIN), sha);

  git(s.repos.local, 'config', '--unset', 'remotedaemon.xmpp.jid');
  await x.proxy.until('the daemon logged out', () => x.proxy.open === 0);
  await s.untilStatus('no account in status', (st) => !st.endpoints.some((e) => e.name === 'xmpp'));
});

test('paused: RELOAD with a new remote, a new XMPP account and a webhook connects to nothing and listens nowhere; RESUME brings each up at once', async (t) => {
  const x = await xmppServer(t);
  const s = await served(t, (repos) => git(repos.local, 'config', 'remotedaemon.pollInterval', '600'), { NODE_EXTRA_CA_CERTS: x.prosody.caFile });
  assert.equal((await cli(s.repos.local, ['pause'])).code, 0);
  await waitForLog(s.paths, 'DISCONNECTED origin');
  const requests = s.server.requests.length;

  const port = await freePort();
  git(s.repos.local, 'remote', 'add', 'second', s.url);
  git(s.repos.local, 'config', 'remotedaemon.xmpp.service', `xmpp://127.0.0.1:${x.proxy.port}`);
  git(s.repos.local, 'config', 'remotedaemon.xmpp.passwordFile', x.passwordFile);
  git(s.repos.local, 'config', 'remotedaemon.xmpp.jid', 'me@localhost');
  git(s.repos.local, 'config', 'remotedaemon.webhook.secret', SECRET);
  git(s.repos.local, 'config', 'remotedaemon.webhook.listen', `127.0.0.1:${port}`);
  assert.equal((await cli(s.repos.local, ['reload'])).code, 0);
  const paused = await s.untilStatus('the new config applied while paused', (st) => st.remotes.some((r) => r.name === 'second') && st.endpoints.some((e) => e.name === 'xmpp'));
  assert.equal(paused.mode, 'paused');
  // And what else asks for the network: FETCH, RELOAD again.
  assert.equal((await cli(s.repos.local, ['fetch'])).code, 0);
  assert.equal((await cli(s.repos.local, ['reload'])).code, 0);
  await waitForLog(s.paths, /control pipe: RELOAD$/, 2);
  // Nothing to await for something that must not happen: a bounded look (an XMPP login starts
  // within milliseconds of its endpoint, a new remote lists at once).
  await assert.rejects(x.proxy.until('a connection', () => x.proxy.accepted > 0, 3_000), /timed out/);
  assert.equal(x.proxy.accepted, 0, 'no connection to the XMPP server while paused');
  assert.equal(s.server.requests.length, requests, 'no request to the http server while paused');
  assert.equal(await accepts(port), false, 'no webhook receiver listening while paused');
  assert.deepEqual((await s.status()).endpoints.map((e) => [e.name, e.summary]).sort(), [
    ['http', PAUSED_ENDPOINT],
    ['xmpp', PAUSED_ENDPOINT],
  ]);

  assert.equal((await cli(s.repos.local, ['resume'])).code, 0);
  await waitForLog(s.paths, 'CONNECTED second', 1, 20_000);
  await waitForLog(s.paths, 'CONNECTED origin', 2, 20_000);
  await waitForLog(s.paths, /xmpp endpoint: logged in as /, 1, 45_000);
  assert.ok(x.proxy.accepted >= 1);
  assert.ok(s.server.requests.length > requests);
  await s.untilStatus('both remotes behind the webhook', (st) => /^webhook/.test(watching(st) ?? '') && /^webhook/.test(watching(st, 'second') ?? ''));
  const sha = push(s.repos);
  assert.equal(await postGitHubPush(port, s.url, SECRET, 'resumed-1'), 202);
  await waitForLog(s.paths, 'DONESYNCING origin 1', 1, 15_000);
  assert.equal(refValue(s.repos.local, ORIGIN_MAIN), sha);
});
