// Shared endpoints in the shared daemon, with real processes: two registered repositories whose
// config asks for the webhook receiver on the same address get one listener, each repository's
// remote nudged by a signed push for it; PAUSE in one leaves the other's webhook working; nothing
// listens once both are paused; repositories with different secrets share the listener too, each
// delivery nudging only the remotes of the repository whose secret it proves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventually } from '../support/daemon.js';
import { git, refValue, tempDir } from '../support/git.js';
import { startGitHttp } from '../support/githttp.js';
import { freePort } from '../support/ports.js';
import { makeRepos, postGitHubPush, push, type Repos } from '../http/fixture.js';
import { alive, cli, killDaemon, logLines, pathsOf, pidFrom, waitForLog, type CliResult } from '../background/support.js';
import { readPidFile } from '../../src/background/pidfile.js';
import { readState } from '../../src/background/state.js';
import type { DaemonPaths } from '../../src/background/paths.js';

type T = { after(fn: () => unknown): void };

interface Repo extends Repos {
  url: string;
  paths: DaemonPaths;
}

/** A global config and state directory of the test's own, so the shared daemon is its own. */
function hubEnv(t: T): { env: NodeJS.ProcessEnv; run(cwd: string, ...args: string[]): Promise<CliResult>; repo(webhook: { port: number; secret: string }): Promise<Repo> } {
  const dir = tempDir();
  const env = { GIT_CONFIG_GLOBAL: join(dir.path, 'gitconfig'), XDG_STATE_HOME: join(dir.path, 'state') };
  writeFileSync(env.GIT_CONFIG_GLOBAL, '[user]\n\tname = Test\n\temail = test@example.invalid\n');
  const repos: Repo[] = [];
  t.after(async () => {
    const hub = readPidFile(join(env.XDG_STATE_HOME, 'git-remote-daemon', 'pid'));
    if (hub && alive(hub.pid)) {
      process.kill(hub.pid, 'SIGKILL');
      await eventually(() => !alive(hub.pid), 'the shared daemon is gone');
    }
    for (const r of repos) await killDaemon(r.paths);
    dir.cleanup();
  });
  return {
    env,
    run: (cwd, ...args) => cli(cwd, args, env),
    async repo({ port, secret }) {
      const repos_ = makeRepos(t);
      const server = await startGitHttp({ root: repos_.served });
      t.after(() => server.stop());
      const url = `${server.base}/repo.git`;
      git(repos_.local, 'remote', 'set-url', 'origin', url);
      // Only a nudge makes it look before the test is over.
      git(repos_.local, 'config', 'remote.origin.remotedaemon-pollInterval', '600');
      git(repos_.local, 'config', 'remotedaemon.webhook.listen', `127.0.0.1:${port}`);
      git(repos_.local, 'config', 'remotedaemon.webhook.secret', secret);
      const repo = { ...repos_, url, paths: pathsOf(repos_.local) };
      repos.push(repo);
      return repo;
    },
  };
}

async function ok(result: Promise<CliResult>, what: string): Promise<CliResult> {
  const r = await result;
  assert.equal(r.code, 0, `${what}: ${r.stdout}${r.stderr}`);
  return r;
}

/** a and b registered, the shared daemon started and both connected in it; its pid. */
async function serveBoth(h: ReturnType<typeof hubEnv>, a: Repo, b: Repo): Promise<number> {
  await ok(h.run(a.local, 'register'), 'register a');
  await ok(h.run(b.local, 'register'), 'register b');
  const hub = pidFrom((await ok(h.run(a.root, 'start', '--all'), 'start --all')).stdout);
  await eventually(() => connected(a, hub) && connected(b, hub), 'both served and connected', 20_000);
  return hub;
}

/** Every repository's log says the one receiver on `port` listens, and one socket does. */
async function oneListener(port: number, ...repos: Repo[]): Promise<void> {
  for (const r of repos) await waitForLog(r.paths, `# http endpoint: webhook: listening on 127.0.0.1:${port}`);
  assert.equal(listeners(port), 1, 'one listening socket');
}

function connected(repo: Repo, pid: number): boolean {
  const state = readState(repo.paths.state);
  return state?.pid === pid && state.mode === 'running' && state.remotes.length > 0 && state.remotes.every((r) => r.connected);
}

/** Sockets listening on `port` (any address), from /proc: one receiver is one socket. */
function listeners(port: number): number {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let count = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (local?.endsWith(hex) && state === '0A') count++;
    }
  }
  return count;
}

/** A push to the repository's forge, announced by a delivery signed with `secret`; the answer's status. */
async function announce(repo: Repo, port: number, secret: string, delivery: string): Promise<{ status: number; sha: string }> {
  const sha = push(repo);
  return { status: await postGitHubPush(port, repo.url, secret, delivery), sha };
}

async function fetchedNow(repo: Repo, sha: string, what: string): Promise<void> {
  // The poll interval is 600 s: only the nudge makes it look this soon.
  await eventually(() => refValue(repo.local, 'refs/remotes/origin/main') === sha, `${what} fetched ${sha}`, 15_000);
}

test('two repositories, one webhook address: one listener nudges each one\'s remote; PAUSE in one leaves the other\'s; nothing listens when both are paused', async (t) => {
  const h = hubEnv(t);
  const port = await freePort();
  const a = await h.repo({ port, secret: 's3cret' });
  const b = await h.repo({ port, secret: 's3cret' });
  const hub = await serveBoth(h, a, b);
  // Both repositories' logs say the one receiver listens; neither says it cannot.
  await oneListener(port, a, b);
  for (const r of [a, b]) assert.deepEqual(logLines(r.paths).filter((l) => /webhook receiver is off/.test(l)), []);

  const forA = await announce(a, port, 's3cret', 'd-1');
  assert.equal(forA.status, 202);
  await fetchedNow(a, forA.sha, 'a');
  const forB = await announce(b, port, 's3cret', 'd-2');
  assert.equal(forB.status, 202);
  await fetchedNow(b, forB.sha, 'b');
  await waitForLog(b.paths, /^# http endpoint: webhook: github push for origin in .*$/, 2);

  // PAUSE in a: a's remote is out of the receiver, which keeps listening for b.
  await ok(h.run(a.local, 'pause'), 'pause a');
  await eventually(() => readState(a.paths.state)?.mode === 'paused', 'a paused');
  // The detach reaches the receiver's thread soon after the state file says paused.
  for (let i = 0; (await postGitHubPush(port, a.url, 's3cret', `d-a-${i}`)) !== 404; i++) {
    if (i > 100) assert.fail("a's remote is still attached to the receiver");
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(listeners(port), 1);
  const whilePaused = await announce(b, port, 's3cret', 'd-3');
  assert.equal(whilePaused.status, 202);
  await fetchedNow(b, whilePaused.sha, 'b while a is paused');

  // Both paused: nothing listens.
  await ok(h.run(b.local, 'pause'), 'pause b');
  await eventually(() => listeners(port) === 0, 'the receiver stops once no repository wants it');

  await ok(h.run(a.local, 'resume'), 'resume a');
  await eventually(() => listeners(port) === 1, 'listening again on RESUME');
  await eventually(() => connected(a, hub), 'a running again', 20_000);
  const afterResume = await announce(a, port, 's3cret', 'd-4');
  assert.equal(afterResume.status, 202);
  await fetchedNow(a, afterResume.sha, 'a after RESUME');
  await ok(h.run(b.local, 'resume'), 'resume b');
  await eventually(() => connected(b, hub), 'b running again', 20_000);
  const bAgain = await announce(b, port, 's3cret', 'd-5');
  assert.equal(bAgain.status, 202);
  await fetchedNow(b, bAgain.sha, 'b after RESUME');
  assert.equal(listeners(port), 1);
  await ok(h.run(a.root, 'stop', '--all'), 'stop --all');
});

/** Posts a push for `url` signed with `secret` until the answer is `status` (what the receiver's thread knows changes after the state file says so). */
async function answerBecomes(port: number, url: string, secret: string, status: number, what: string): Promise<void> {
  for (let i = 0; ; i++) {
    if ((await postGitHubPush(port, url, secret, `until-${status}-${i}`)) === status) return;
    if (i > 100) assert.fail(`${what}: never answered ${status}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("one webhook address, different secrets: one listener serves both, each delivery verified per repository; a's secret does nothing for b; PAUSE of a leaves b's working", async (t) => {
  const h = hubEnv(t);
  const port = await freePort();
  const a = await h.repo({ port, secret: 'secret-of-a' });
  const b = await h.repo({ port, secret: 'secret-of-b' });
  const hub = await serveBoth(h, a, b);
  // One receiver for both: both logs say it listens, neither is refused or told it is off.
  await oneListener(port, a, b);
  for (const r of [a, b]) {
    assert.deepEqual(logLines(r.paths).filter((l) => /already used|receiver is off|off for this repository/.test(l)), []);
    assert.ok(!logLines(r.paths).some((l) => l.includes('secret-of')), 'never a secret in the log');
    assert.doesNotMatch((await ok(h.run(r.local, 'status'), 'status')).stdout, /secret-of|already used/);
  }

  // Signed with a's secret: a's remote fetches, b's does not.
  const bBefore = refValue(b.local, 'refs/remotes/origin/main');
  const forA = await announce(a, port, 'secret-of-a', 'd-1');
  assert.equal(forA.status, 202);
  await fetchedNow(a, forA.sha, 'a');
  await waitForLog(a.paths, `# http endpoint: webhook: github push for origin in ${a.local}`);
  // A push to b's forge, announced with a's secret: b's remote is not a's, the answer the same as
  // for a repository this daemon never heard of; with a secret of neither: 401.
  const bPush = push(b);
  assert.equal(await postGitHubPush(port, b.url, 'secret-of-a', 'd-2'), 404, "a's secret names no remote of b");
  assert.equal(await postGitHubPush(port, b.url, 'secret-of-nobody', 'd-3'), 401);
  assert.equal(refValue(b.local, 'refs/remotes/origin/main'), bBefore, 'b fetched nothing');
  // Signed with b's secret: b's remote fetches (the push made above), a's does not.
  const aBefore = refValue(a.local, 'refs/remotes/origin/main');
  assert.equal(await postGitHubPush(port, b.url, 'secret-of-b', 'd-4'), 202);
  await fetchedNow(b, bPush, 'b');
  assert.equal(await postGitHubPush(port, a.url, 'secret-of-b', 'd-5'), 404, "b's secret names no remote of a");
  for (const r of [a, b]) assert.deepEqual(logLines(r.paths).filter((l) => /github push for/.test(l)).map((l) => l.replace(/.* for /, '')), [`origin in ${a.local}`, `origin in ${b.local}`]);
  assert.equal(refValue(a.local, 'refs/remotes/origin/main'), aBefore, 'a fetched nothing more');

  // PAUSE of a: its remote (and so its secret) leaves the receiver, which keeps listening for b.
  await ok(h.run(a.local, 'pause'), 'pause a');
  await eventually(() => readState(a.paths.state)?.mode === 'paused', 'a paused');
  await answerBecomes(port, a.url, 'secret-of-a', 401, "a's secret once a is paused");
  assert.equal(listeners(port), 1);
  const whilePaused = await announce(b, port, 'secret-of-b', 'd-6');
  assert.equal(whilePaused.status, 202);
  await fetchedNow(b, whilePaused.sha, 'b while a is paused');

  // RESUME: a's secret works again.
  await ok(h.run(a.local, 'resume'), 'resume a');
  await eventually(() => connected(a, hub), 'a running again', 20_000);
  const afterResume = push(a);
  await answerBecomes(port, a.url, 'secret-of-a', 202, "a's secret after RESUME");
  await fetchedNow(a, afterResume, 'a after RESUME');
  assert.equal(listeners(port), 1);
  await ok(h.run(a.root, 'stop', '--all'), 'stop --all');
});

test("one webhook address, a secret file others can read: that repository alone is off and says why, the other's webhook works; fixed and RELOADed, it joins the same listener", async (t) => {
  const h = hubEnv(t);
  const port = await freePort();
  const a = await h.repo({ port, secret: 'secret-of-a' });
  const b = await h.repo({ port, secret: 'unused' });
  const dir = tempDir();
  t.after(() => dir.cleanup());
  const file = join(dir.path, 'webhook-secret');
  writeFileSync(file, 'secret-of-b\n');
  chmodSync(file, 0o640);
  git(b.local, 'config', 'remotedaemon.webhook.secretFile', file);
  const hub = await serveBoth(h, a, b);
  await waitForLog(a.paths, `# http endpoint: webhook: listening on 127.0.0.1:${port}`);
  const said = await waitForLog(b.paths, /^WARNING \* http endpoint: the webhook secret: .* is readable by others \(mode 640\); chmod 600 it; off for this repository$/);
  assert.ok(!said[0]!.includes('secret-of-b'), 'never the secret in the log');
  assert.match((await ok(h.run(b.local, 'status'), 'status')).stdout, /http: off: the webhook secret:[\s\S]*readable\s+by\s+others/);
  assert.deepEqual(logLines(a.paths).filter((l) => /readable by others|off for this repository/.test(l)), [], 'a is not bothered');
  assert.equal(listeners(port), 1);

  const forA = await announce(a, port, 'secret-of-a', 'd-1');
  assert.equal(forA.status, 202);
  await fetchedNow(a, forA.sha, 'a');
  assert.equal(await postGitHubPush(port, b.url, 'secret-of-b', 'd-2'), 401, "b's secret is not the receiver's while its file is refused");

  // Fixed, and RELOAD re-reads it: b joins the listener that runs.
  chmodSync(file, 0o600);
  await ok(h.run(b.local, 'send', 'RELOAD'), 'reload b');
  const forB = push(b);
  await answerBecomes(port, b.url, 'secret-of-b', 202, "b's secret once its file is fixed");
  await fetchedNow(b, forB, 'b');
  assert.doesNotMatch((await ok(h.run(b.local, 'status'), 'status')).stdout, /readable\s+by\s+others/);
  assert.equal(listeners(port), 1);
  await ok(h.run(a.root, 'stop', '--all'), 'stop --all');
});
