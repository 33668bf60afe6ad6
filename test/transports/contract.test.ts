// What every transport must do, proved the same way for each: local and ssh against real
// repositories (ssh against a real sshd), and the in-memory fake the fast tests rely on, so that the
// fake cannot drift from what the real ones do. A new transport adds one entry to `subjects`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import type { RemoteSpec } from '../../shared/workerapi.js';
import { create as createLocal } from '../../workers/local/transport.js';
import { create as createSsh } from '../../workers/ssh/transport.js';
import { create as createHttp } from '../../workers/http/transport.js';
import { makeRepos, push as httpPush } from '../http/fixture.js';
import { startGitHttp } from '../support/githttp.js';
import type { Connection, RemoteChange, Transport, TransportEvents } from '../../shared/transport.js';
import { FakeRemote } from '../support/fake-transport.js';
import { commit, git, makeFixture, pushCommit, refValue } from '../support/git.js';
import { create as createP2p } from '../../workers/p2p/transport.js';
import { addressOf, keyOf } from '../../workers/p2p/address.js';
import { parseShowRules } from '../../workers/p2p/shown.js';
import { makePeers, runEndpoint } from '../p2p/support.js';
import { makeSshFixture, push as sshPush } from '../ssh/fixture.js';

type T = { after(fn: () => unknown): void };

interface Subject {
  /** A transport for a remote with one commit on main, the local clone, and how to push to it. */
  make(t: T, opts?: { missing?: boolean }): Promise<{ transport: Transport; local: string; push(): string; remoteRefs(): Promise<Map<string, string>> }>;
  /** The fake only reports what its test tells it to. */
  reportsPushes: boolean;
}

const live = () => ({ pollIntervalSeconds: 60, reportUpdates: false });
const spec = (url: string, transport: string, options: Record<string, unknown> = {}): RemoteSpec => ({
  name: 'origin',
  url,
  transport,
  fetchRefspecs: ['+refs/heads/*:refs/remotes/origin/*'],
  options,
});

const subjects: Record<string, Subject> = {
  local: {
    reportsPushes: true,
    async make(t, { missing = false } = {}) {
      const fx = makeFixture();
      t.after(fx.cleanup);
      const url = missing ? join(fx.root, 'missing.git') : fx.remote;
      const transport = createLocal({ spec: spec(url, 'local'), repo: { cwd: fx.local, gitDir: join(fx.local, '.git') }, live });
      return { transport, local: fx.local, push: () => pushCommit(fx.pusher), remoteRefs: () => refsOf(fx.remote) };
    },
  },
  ssh: {
    reportsPushes: true,
    async make(t, { missing = false } = {}) {
      const fx = await makeSshFixture({ serverBin: { gitRemoteDaemon: true } });
      t.after(() => fx.cleanup());
      const url = missing ? fx.sshd.url(`${fx.remotePath}-missing`) : fx.url;
      const transport = createSsh({ spec: spec(url, 'ssh', { sshCommand: fx.sshd.sshCommand }), repo: { cwd: fx.local, gitDir: join(fx.local, '.git') }, live });
      return {
        transport,
        local: fx.local,
        push: () => sshPush(fx),
        remoteRefs: async () => new Map((await fx.sshd.runAsUser(['git', '--git-dir', fx.remotePath, 'for-each-ref', '--format=%(refname) %(objectname)'])).stdout.trim().split('\n').map((l: string) => l.split(' ') as [string, string])),
      };
    },
  },
  http: {
    reportsPushes: false, // polled: the contract's live settings poll once a minute
    async make(t, { missing = false } = {}) {
      const repos = makeRepos(t);
      const server = await startGitHttp({ root: repos.served });
      t.after(() => server.stop());
      const url = `${server.base}/${missing ? 'missing' : 'repo'}.git`;
      git(repos.local, 'remote', 'set-url', 'origin', url);
      const options = { fastPath: true, fallbackReasons: [], userAgent: 'git/2 (git-remote-daemon)', credentialHelpers: [] };
      const transport = createHttp({ spec: spec(url, 'http', options), repo: { cwd: repos.local, gitDir: join(repos.local, '.git') }, live });
      return { transport, local: repos.local, push: () => httpPush(repos), remoteRefs: () => refsOf(repos.bare) };
    },
  },
  p2p: {
    reportsPushes: true,
    async make(t, { missing = false } = {}) {
      // Two peer nodes on a loopback testnet: `remote` serves (allows only the local key), `local` fetches.
      const p = await makePeers(t);
      const remote = p.make('remote', { seed: true });
      const local = p.make('local');
      const base = { bootstrap: p.testnet.bootstrap, host: '127.0.0.1', reachable: true, show: parseShowRules([]).rules };
      const serving = await runEndpoint(remote, { ...base, allowed: [keyOf(p.address('local'))!], peers: [] });
      t.after(() => serving.stop());
      const url = missing ? addressOf('ab'.repeat(32)) : p.address('remote');
      const key = keyOf(url)!;
      git(local, 'remote', 'add', 'origin', url);
      const fetching = await runEndpoint(local, { ...base, allowed: [key], peers: [{ key, fetch: ['+refs/heads/*:refs/remotes/origin/*'] }] });
      t.after(() => fetching.stop());
      const transport = createP2p({ spec: spec(url, 'p2p', { key }), repo: { cwd: local, gitDir: join(local, '.git') }, live, endpoint: fetching.link('origin', url) });
      return { transport, local, push: () => commit(remote), remoteRefs: () => refsOf(join(remote, '.git')) };
    },
  },
  fake: {
    reportsPushes: false,
    async make(t, { missing = false } = {}) {
      const fx = makeFixture();
      t.after(fx.cleanup);
      const fake = new FakeRemote(fx.remote);
      if (missing) fake.outcomes.push('fail');
      const transport = (await fake.plugin.load()).create({ spec: spec(fx.remote, 'fake'), repo: { cwd: fx.local, gitDir: join(fx.local, '.git') }, live });
      return { transport, local: fx.local, push: () => pushCommit(fx.pusher), remoteRefs: () => refsOf(fx.remote) };
    },
  },
};

function refsOf(gitDir: string): Promise<Map<string, string>> {
  return new Promise((resolve, reject) =>
    execFile('git', ['--git-dir', gitDir, 'for-each-ref', '--format=%(refname) %(objectname)'], (err, out) =>
      err ? reject(err) : resolve(new Map(out.trim().split('\n').map((l) => l.split(' ') as [string, string]))),
    ),
  );
}

class Events implements TransportEvents {
  changes: RemoteChange[] = [];
  private waiters = new Set<() => void>();
  changed(change: RemoteChange) {
    this.changes.push(change);
    for (const w of [...this.waiters]) w();
  }
  condition() {}
  watching() {}
  log() {}
  until(predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
      const check = () => {
        if (!predicate()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
      check();
    });
  }
}

function fetchThrough(connection: Connection, cwd: string): Promise<number> {
  return connection.fetchPlan().then(
    (plan) =>
      new Promise((resolve) => {
        const child = execFile('git', [...(plan.gitArgs ?? []), 'fetch', '-q', 'origin'], { cwd, env: { ...process.env, GIT_TERMINAL_PROMPT: '0', ...plan.env } });
        child.on('exit', (code) => resolve(code ?? 1));
      }),
  );
}

for (const [name, subject] of Object.entries(subjects)) {
  test(`${name}: connect, list the refs as the remote has them, fetch through the connection, close idempotently`, async (t) => {
    const { transport, local, push, remoteRefs } = await subject.make(t);
    const events = new Events();
    const connection = await transport.connect(events, new AbortController().signal);
    t.after(() => connection.close());
    assert.deepEqual(await connection.listRefs().then((m) => new Map([...m].filter(([r]) => r.startsWith('refs/heads/')))), await remoteRefs());
    const sha = push();
    if (subject.reportsPushes) await events.until(() => events.changes.length > 0, 'the push to be reported');
    assert.equal(await fetchThrough(connection, local), 0);
    assert.equal(refValue(local, 'refs/remotes/origin/main'), sha);
    await connection.close();
    await connection.close();
    await connection.done; // resolves after close()
  });

  test(`${name}: an abort gives up promptly; a missing repository is an error, not a hang`, async (t) => {
    const { transport } = await subject.make(t, { missing: true });
    const started = Date.now();
    const rejected = await transport.connect(new Events(), new AbortController().signal).then(
      async (c) => {
        // Some transports learn of a missing repository only once connected: the connection ends.
        await assert.rejects(c.done);
        return true;
      },
      () => true,
    );
    assert.equal(rejected, true);
    const abort = new AbortController();
    abort.abort(new Error('told to stop'));
    const ok = await subject.make(t);
    await assert.rejects(ok.transport.connect(new Events(), abort.signal));
    assert.ok(Date.now() - started < 15_000);
  });
}
