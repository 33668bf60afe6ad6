// http(s) remotes: what one poll costs (the ls-refs fast path next to `git ls-remote`), push to
// fetched through a webhook nudge, and the memory of a worker for an http remote next to one for
// an ssh and a local remote, all measured in this run.
//
//   node dist/bench/http.js          (or through `npm run bench`)
//   node dist/bench/http.js webhook  (the webhook latency and its floor alone)

import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { create } from '../workers/http/transport.js';
import { makeRepos, postGitHubPush, push, type Repos } from '../test/http/fixture.js';
import { startGitHttp, type GitHttpServer } from '../test/support/githttp.js';
import { startDaemon, type RunningDaemon } from '../test/support/daemon.js';
import { git, makeFixture } from '../test/support/git.js';
import { makeSshFixture } from '../test/ssh/fixture.js';
import { pssMb } from './procfs.js';
import { median, pairedRatio, report, spread } from './report.js';
import { freePort } from '../test/support/ports.js';

const execFileAsync = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const POLLS = 30;

async function withServed<T>(body: (repos: Repos, server: GitHttpServer, url: string) => Promise<T>): Promise<T> {
  const cleanups: (() => unknown)[] = [];
  const repos = makeRepos({ after: (fn) => cleanups.push(fn) });
  const server = await startGitHttp({ root: repos.served });
  const url = `${server.base}/repo.git`;
  git(repos.local, 'remote', 'set-url', 'origin', url);
  try {
    return await body(repos, server, url);
  } finally {
    await server.stop();
    for (const fn of cleanups.reverse()) await fn();
  }
}

async function pollCost(): Promise<void> {
  await withServed(async (repos, _server, url) => {
    const live = { pollIntervalSeconds: 60, reportUpdates: false };
    const options = { fastPath: true, fallbackReasons: [], userAgent: 'git/2 (git-remote-daemon)', credentialHelpers: [] };
    const spec = { name: 'origin', url, transport: 'http', fetchRefspecs: ['+refs/heads/*:refs/remotes/origin/*'], options };
    const events = { changed() {}, condition() {}, watching() {}, log() {} };
    const connection = await create({ spec, repo: { cwd: repos.local, gitDir: join(repos.local, '.git') }, live: () => live }).connect(events, new AbortController().signal);
    try {
      const fast: number[] = [];
      const slow: number[] = [];
      for (let i = 0; i < POLLS; i++) {
        let t = performance.now();
        await connection.listRefs();
        fast.push(performance.now() - t);
        t = performance.now();
        // Not spawnSync: the HTTP server runs in this process and must keep answering.
        await execFileAsync('git', ['ls-remote', url, 'refs/heads/*'], { cwd: repos.local });
        slow.push(performance.now() - t);
      }
      report('http: one poll, ls-refs v2 on a kept-alive connection', `${median(fast).toFixed(1)} ms`);
      report('http: one poll, spawning git ls-remote', `${median(slow).toFixed(1)} ms (ratio ${(median(fast) / median(slow)).toFixed(2)})`);
    } finally {
      await connection.close();
    }
  });
}

/**
 * Push -> fetched through a GitHub webhook nudge, against its floor measured right after each
 * push: what a nudged client has to do at the least, one listing and one fetch of the same change
 * (`git ls-remote origin`, then a plain `git fetch origin`, in a clone of its own).
 */
async function webhookLatency(pushes = 10): Promise<void> {
  await withServed(async (repos, _server, url) => {
    const plain = join(repos.root, 'plain');
    // Not spawnSync: the HTTP server runs in this process and must keep answering.
    await execFileAsync('git', ['clone', '-q', url, plain]);
    const floorOnce = async () => {
      const t = performance.now();
      await execFileAsync('git', ['ls-remote', 'origin'], { cwd: plain });
      await execFileAsync('git', ['fetch', 'origin'], { cwd: plain });
      return performance.now() - t;
    };
    await floorOnce(); // warm
    const port = await freePort();
    git(repos.local, 'config', 'remote.origin.remotedaemon-pollInterval', '3600');
    git(repos.local, 'config', 'remotedaemon.webhook.listen', `127.0.0.1:${port}`);
    git(repos.local, 'config', 'remotedaemon.webhook.secret', 'bench');
    const d = startDaemon(repos.local, ['--foreground']);
    try {
      await d.waitFor('CONNECTED origin', { timeoutMs: 20_000 });
      await sleep(500);
      const samples: number[] = [];
      const floor: number[] = [];
      for (let i = 0; i < pushes; i++) {
        const from = d.lines.length;
        push(repos);
        const pushed = performance.now();
        const status = await postGitHubPush(port, url, 'bench', `bench-${i}-${Date.now()}`);
        if (status !== 202) throw new Error(`webhook answered ${status}`);
        await d.waitFor('DONESYNCING origin 1', { from });
        samples.push(performance.now() - pushed);
        floor.push(await floorOnce());
        await sleep(200);
      }
      report(`http: push -> fetched through a GitHub webhook nudge, median of ${pushes}`, spread(samples));
      report('http: floor: git ls-remote + plain git fetch of the same change', spread(floor));
      report('http: ratio webhook push-to-fetched / floor, median per push (target <= 1.00)', pairedRatio(samples, floor, 1));
    } finally {
      await d.stop();
    }
  });
}

/** The daemon's PSS with 1 and with 10 remotes of one URL: what each added remote's worker costs. */
async function perRemote(local: string, url: string, env: Record<string, string> = {}): Promise<number> {
  const measure = async (remotes: number): Promise<number> => {
    const names = Array.from({ length: remotes - 1 }, (_, i) => `r${i + 1}`);
    for (const name of names) {
      git(local, 'remote', 'add', name, url);
      git(local, 'config', `remote.${name}.fetch`, `+refs/heads/*:refs/remotes/${name}/*`);
    }
    const d: RunningDaemon = startDaemon(local, ['--foreground'], env);
    try {
      await d.waitForCount(/^CONNECTED /, remotes, 60_000);
      await sleep(12_000); // past the catch-ups and the cat-files' idle time
      return pssMb([d.child.pid!]);
    } finally {
      await d.stop();
      for (const name of names) git(local, 'remote', 'remove', name);
    }
  };
  const one = await measure(1);
  const ten = await measure(10);
  return (ten - one) / 9;
}

async function workerMemory(): Promise<void> {
  const fx = makeFixture();
  let localMb: number;
  try {
    localMb = await perRemote(fx.local, fx.remote);
  } finally {
    fx.cleanup();
  }
  const httpMb = await withServed((repos, _server, url) => perRemote(repos.local, url));
  const ssh = await makeSshFixture({ serverBin: { gitRemoteDaemon: true } });
  let sshMb: number;
  try {
    git(ssh.local, 'config', 'core.sshCommand', ssh.sshd.sshCommand);
    sshMb = await perRemote(ssh.local, ssh.url);
  } finally {
    await ssh.cleanup();
  }
  report('memory: PSS per added remote, local / http / ssh', `${localMb.toFixed(1)} / ${httpMb.toFixed(1)} / ${sshMb.toFixed(1)} MB`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv[2] === 'webhook') await webhookLatency();
  else await benchHttp();
}

export async function benchHttp(): Promise<void> {
  execFileSync('git', ['--version']);
  await pollCost();
  await webhookLatency();
  await workerMemory();
}
