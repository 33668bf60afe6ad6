// Shared by livesettings.test.ts and livepause.test.ts: a served http repository with a background
// daemon in its clone, status as JSON, Prosody behind a counting proxy.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { makeRepos, type Repos } from '../http/fixture.js';
import { startGitHttp, type GitHttpServer } from '../support/githttp.js';
import { git, tempDir } from '../support/git.js';
import { countingProxy, type CountingProxy } from '../support/proxy.js';
import { startProsody, type Prosody } from '../xmpp/prosody.js';
import { cli, killDaemon, logLines, pathsOf, waitForLog } from './support.js';
import { encodeNotice, normaliseUrl } from '../../workers/notice/format.js';
import type { DaemonPaths } from '../../src/background/paths.js';

const execFileAsync = promisify(execFile);
type T = { after(fn: () => unknown): void };
export const ORIGIN_MAIN = 'refs/remotes/origin/main';
export const SECRET = 's3cret';
const PASSWORD = 'correct horse';

export interface StatusJson {
  mode: string;
  remotes: { name: string; watching?: string; connected: boolean }[];
  endpoints: { name: string; summary: string }[];
}

export interface Served {
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
export async function served(t: T, setup: (repos: Repos, url: string) => void, env: NodeJS.ProcessEnv = {}): Promise<Served> {
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

export const watching = (s: StatusJson, remote = 'origin') => s.remotes.find((r) => r.name === remote)?.watching;

/** True when something accepts TCP connections on the port. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Prosody with the account me@localhost, reached only through a counting proxy. */
export async function xmppServer(t: T): Promise<{ prosody: Prosody; proxy: CountingProxy; passwordFile: string }> {
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
export async function sendNotice(prosody: Prosody, to: string, url: string, sha: string): Promise<void> {
  const script = new URL('../xmpp/send-notice.js', import.meta.url).pathname;
  const payload = encodeNotice({ url: normaliseUrl(url)!, refs: [['refs/heads/main', sha]] });
  await execFileAsync(process.execPath, [script, prosody.service, 'me@localhost', PASSWORD, to, '1', payload], { env: { ...process.env, NODE_EXTRA_CA_CERTS: prosody.caFile } });
}

