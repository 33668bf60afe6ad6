// A repository served over smart HTTP (or git://) and a clone whose origin points at it, plus the
// transport created for that origin exactly as a worker would (options from the plugin, read from
// the clone's real config), and an events recorder whose waits are promises, not sleeps.

import { request } from 'node:http';
import { join } from 'node:path';
import { readGitConfig } from '../../src/config.js';
import type { LiveSettings, RemoteSpec } from '../../shared/workerapi.js';
import type { EndpointLink, TransportContext } from '../../shared/plugin.js';
import { httpPlugin } from '../../workers/http/plugin.js';
import { create } from '../../workers/http/transport.js';
import type { Connection, RemoteChange, TransportEvents } from '../../shared/transport.js';
import { sign } from '../../workers/http/webhook/verify.js';
import { commit, git, tempDir } from '../support/git.js';

// Hermetic: no user or system config may change what git does here.
process.env.GIT_CONFIG_NOSYSTEM = '1';
process.env.GIT_CONFIG_GLOBAL = '/dev/null';
for (const name of ['GIT_SSL_CAINFO', 'SSL_CERT_FILE', 'SSL_CERT_DIR', 'CURL_CA_BUNDLE', 'http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'all_proxy', 'NO_PROXY', 'no_proxy']) {
  delete process.env[name];
}

export type After = { after(fn: () => unknown): void };

export interface Repos {
  root: string;
  /** GIT_PROJECT_ROOT / git daemon's base path. */
  served: string;
  /** The bare repository, at `served`/repo.git. */
  bare: string;
  pusher: string;
  local: string;
}

export function makeRepos(t: After): Repos {
  const dir = tempDir('grd-http-');
  t.after(() => dir.cleanup());
  const root = dir.path;
  const served = join(root, 'served');
  const bare = join(served, 'repo.git');
  const pusher = join(root, 'pusher');
  const local = join(root, 'local');
  git(root, 'init', '-q', '--bare', '-b', 'main', bare);
  git(root, 'init', '-q', '-b', 'main', pusher);
  git(pusher, 'remote', 'add', 'origin', bare);
  commit(pusher, 'initial');
  git(pusher, 'push', '-q', 'origin', 'main');
  git(root, 'clone', '-q', bare, local);
  return { root, served, bare, pusher, local };
}

/** Pushes a new commit on `branch` straight into the bare repository; returns its sha. */
export function push(repos: Repos, branch = 'main'): string {
  const sha = commit(repos.pusher);
  git(repos.pusher, 'push', '-q', 'origin', `HEAD:refs/heads/${branch}`);
  return sha;
}

export class Recorder implements TransportEvents {
  changes: RemoteChange[] = [];
  conditions: { kind: string; text: string | null }[] = [];
  watchings: string[] = [];
  logs: string[] = [];
  private waiters: (() => void)[] = [];

  changed(change: RemoteChange): void {
    this.changes.push(change);
    this.wake();
  }
  condition(kind: string, text: string | null): void {
    this.conditions.push({ kind, text });
    this.wake();
  }
  watching(how: string): void {
    this.watchings.push(how);
    this.wake();
  }
  /** When each poll was scheduled: one more after every listing the poller made. */
  nextLooks: number[] = [];
  nextLook(at: number): void {
    this.nextLooks.push(at);
    this.wake();
  }
  log(text: string): void {
    this.logs.push(text);
    this.wake();
  }

  /** How many times the transport asked the session to look now. */
  get nudges(): number {
    return this.changes.filter((c) => c.kind === 'nudge').length;
  }

  /** The value `ref` was last reported with. */
  reported(ref: string): string | undefined {
    let value: string | undefined;
    for (const c of this.changes) if (c.kind === 'refs' && c.refs.has(ref)) value = c.refs.get(ref);
    return value;
  }

  /** Resolves once `condition` holds (checked after every event), or rejects after `timeoutMs`. */
  until(what: string, condition: () => boolean, timeoutMs = 15_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!condition()) return false;
        clearTimeout(timer);
        resolve();
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out waiting for ${what}; logs: ${this.logs.join(' | ')}`));
      }, timeoutMs);
      const waiter = () => {
        if (check()) this.waiters = this.waiters.filter((w) => w !== waiter);
      };
      if (!check()) this.waiters.push(waiter);
    });
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

export interface Setup {
  url: string;
  pollIntervalSeconds?: number;
  /** Extra `git config` in the local clone (key, value). */
  config?: [string, string][];
  followTags?: boolean;
  endpoint?: EndpointLink;
  /** Tighter bounds for the tests of huge answers. */
  limits?: { timeoutMs?: number; maxBytes?: number };
  /** The environment the coordinator reads git's settings from (default: this process's). */
  env?: NodeJS.ProcessEnv;
}

export interface Connected {
  connection: Connection;
  events: Recorder;
  context: TransportContext;
}

/** The context a worker would build for `origin` in the local clone. */
export async function contextFor(repos: Repos, setup: Setup): Promise<TransportContext> {
  git(repos.local, 'remote', 'set-url', 'origin', setup.url);
  for (const [key, value] of setup.config ?? []) git(repos.local, 'config', key, value);
  const repo = { cwd: repos.local, gitDir: join(repos.local, '.git') };
  const config = await readGitConfig(repo);
  const decided = httpPlugin.remoteOptions!({
    name: 'origin',
    url: setup.url,
    config,
    env: setup.env ?? process.env,
    get: (key) => config.get(`remote.origin.${key}`)?.at(-1),
  });
  if ('ignore' in decided) throw new Error(decided.ignore);
  const spec: RemoteSpec = {
    name: 'origin',
    url: setup.url,
    transport: 'http',
    fetchRefspecs: ['+refs/heads/*:refs/remotes/origin/*'],
    followTags: setup.followTags ?? false,
    options: { ...decided.options, ...(setup.limits && { limits: setup.limits }) },
  };
  const live: LiveSettings = { pollIntervalSeconds: setup.pollIntervalSeconds ?? 60, reportUpdates: false };
  return { spec, repo, live: () => live, ...(setup.endpoint && { endpoint: setup.endpoint }) };
}

export async function connect(t: After, repos: Repos, setup: Setup): Promise<Connected> {
  const context = await contextFor(repos, setup);
  const events = new Recorder();
  const connection = await create(context).connect(events, new AbortController().signal);
  t.after(() => connection.close());
  return { connection, events, context };
}

/**
 * POSTs a GitHub push event for the repository at `url` to a webhook receiver on loopback, signed
 * with `signWith` the way GitHub signs; resolves with the HTTP status.
 */
export function postGitHubPush(port: number, url: string, signWith: string, delivery: string): Promise<number> {
  // Like a real push, each delivery's body differs (a forge's by its shas and times): the receiver
  // ignores a body it has acted on before, whatever the delivery id.
  const body = JSON.stringify({ ref: 'refs/heads/main', after: delivery, repository: { clone_url: url } });
  const headers = { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': delivery, 'x-hub-signature-256': `sha256=${sign(body, signWith)}` };
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end(body);
  });
}
