// Daemon-wide settings changed under a running background daemon take effect at once, through the
// config watch (or RELOAD), and PAUSE keeps everything off the network whatever a reload asks.
// Checked at the real servers (git http-backend's request log, Prosody behind a counting proxy,
// the webhook port), never by what the daemon says of itself alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { makeRepos, postGitHubPush, push, type Repos } from '../http/fixture.js';
import { startGitHttp, type GitHttpServer } from '../support/githttp.js';
import { git, refValue, tempDir } from '../support/git.js';
import { freePort } from '../support/ports.js';
import { countingProxy, type CountingProxy } from '../support/proxy.js';
import { eventually } from '../support/daemon.js';
import { startProsody, type Prosody } from '../xmpp/prosody.js';
import { cli, killDaemon, logLines, pathsOf, waitForLog } from './support.js';
import { encodeNotice, normaliseUrl } from '../../workers/notice/format.js';
import { PAUSED_ENDPOINT } from '../../src/endpoints.js';
import type { DaemonPaths } from '../../src/background/paths.js';

const execFileAsync = promisify(execFile);
type T = { after(fn: () => unknown): void };
const ORIGIN_MAIN = 'refs/remotes/origin/main';
const SECRET = 's3cret';
const PASSWORD = 'correct horse';

interface StatusJson {
  mode: string;
  remotes: { name: string; watching?: string; connected: boolean }[];
  endpoints: { name: string; summary: string }[];
}

interface Served {
  repos: Repos;
  server: GitHttpServer;
  url: string;
  paths: DaemonPaths;
  env: NodeJS.ProcessEnv;
  status(): Promise<StatusJson>;
  /** Asks `status --json` until `condition` holds (the state file is outside this process). */
  untilStatus(what: string, condition: (s: StatusJson) => boolean, timeoutMs?: number): Promise<StatusJson>;
}

/** A repository served by git http-backend, cloned, with a background daemon running in the clone. */
async function served(t: T, setup: (repos: Repos, url: string) => void, env: NodeJS.ProcessEnv = {}): Promise<Served> {
  // Hooks run in the order they were added: the daemon must stop before its repository goes.
  let stopDaemon = async () => {};
  t.after(() => stopDaemon());
  const repos = makeRepos(t);
  const server = await startGitHttp({ root: repos.served });
  t.after(() => server.stop());
  const url = `${server.base}/repo.git`;
  git(repos.local, 'remote', 'set-url', 'origin', url);
  setup(repos, url);
  const paths = pathsOf(repos.local);
  stopDaemon = async () => {
    await cli(repos.local, ['stop']);
    await killDaemon(paths);
  };
  const started = await cli(repos.local, [], env);
  assert.equal(started.code, 0, started.stderr);
  await waitForLog(paths, 'CONNECTED origin', 1, 20_000);
  const status = async () => JSON.parse((await cli(repos.local, ['status', '--json'])).stdout) as StatusJson;
  const untilStatus = async (what: string, condition: (s: StatusJson) => boolean, timeoutMs = 20_000) => {
    let last: StatusJson | undefined;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      last = await status();
      if (condition(last)) return last;
    }
    throw new Error(`timed out waiting until ${what}; status: ${JSON.stringify(last)}\nlog:\n${logLines(paths).slice(-40).join('\n')}`);
  };
  return { repos, server, url, paths, env, status, untilStatus };
}

const watching = (s: StatusJson, remote = 'origin') => s.remotes.find((r) => r.name === remote)?.watching;

/** True when something accepts TCP connections on the port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Prosody with the account me@localhost, reached only through a counting proxy. */
async function xmppServer(t: T): Promise<{ prosody: Prosody; proxy: CountingProxy; passwordFile: string }> {
  const prosody = await startProsody();
  t.after(() => prosody.dispose());
  await prosody.register('me', PASSWORD);
  const proxy = await countingProxy(prosody.port);
  t.after(() => proxy.close());
  const dir = tempDir('grd-xmpp-pw-');
  t.after(() => dir.cleanup());
  const passwordFile = join(dir.path, 'password');
  writeFileSync(passwordFile, `${PASSWORD}\n`);
  chmodSync(passwordFile, 0o600);
  return { prosody, proxy, passwordFile };
}

/** Sends one change notice as another device of me@localhost to the daemon's full JID. */
async function sendNotice(prosody: Prosody, to: string, url: string, sha: string): Promise<void> {
  const script = new URL('../xmpp/send-notice.js', import.meta.url).pathname;
  const payload = encodeNotice({ url: normaliseUrl(url)!, refs: [['refs/heads/main', sha]] });
  await execFileAsync(process.execPath, [script, prosody.service, 'me@localhost', PASSWORD, to, '1', payload], { env: { ...process.env, NODE_EXTRA_CA_CERTS: prosody.caFile } });
}

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
