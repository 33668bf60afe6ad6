// ssh remotes, on a real OpenSSH sshd on loopback with the plain test user (shell /bin/sh):
//  1. what one no-op `git fetch` costs through the tunnel on a held connection vs a fresh `ssh`;
//  2. push-to-fetched latency of the transport alone (in this process: notifier -> fetch);
//  3. push-to-fetched latency of the daemon (`bin/git-remote-daemon --foreground`) and of
//     `git annex remotedaemon`, on the same sshd in the same run, and their ratio;
//  4. what a `git ls-remote` and a push cost through our restricted shell
//     (bin/git-remote-daemon-shell, POSIX sh) as the forced command, next to git-shell as the
//     forced command, alternating sample by sample (target: at most 30 % slower).
//
//   node dist/bench/ssh.js          (or through `npm run bench`)
//   node dist/bench/ssh.js shell    (section 4 alone)
//   node dist/bench/ssh.js latency  (section 3's daemon and its ControlMaster floor alone)

import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { create } from '../workers/ssh/transport.js';
import { ChannelQueue } from '../workers/ssh/channels.js';
import { startTunnel } from '../workers/ssh/tunnel.js';
import type { RemoteChange } from '../shared/transport.js';
import { startDaemon } from '../test/support/daemon.js';
import { tempDir } from '../test/support/git.js';
import { connectClient, gitEnv, makeSshFixture, type SshFixture } from '../test/ssh/fixture.js';
import { median, pairedRatio, report } from './report.js';
import { epochNow, refWrittenAt, type StageRecord, type Window } from './stages.js';
import { sqQuote } from '../shared/kit/shell.js';
import { fetchArgs, fetchEnv } from '../workers/fetchargs.js';

const SAMPLES = 20;
const LATENCY_SAMPLES = 25;
/** A quiet gap before each push: the case that matters is the first change after a lull. */
const QUIET_MS = 100;

const IDENTITY = {
  GIT_AUTHOR_NAME: 'Bench',
  GIT_AUTHOR_EMAIL: 'bench@example.invalid',
  GIT_COMMITTER_NAME: 'Bench',
  GIT_COMMITTER_EMAIL: 'bench@example.invalid',
};

function run(cwd: string, env: Record<string, string>, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { cwd, env: { ...process.env, ...IDENTITY, GIT_CONFIG_NOSYSTEM: '1', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`git ${args.join(' ')} exited ${code}: ${stderr}`))));
  });
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (samples: number[]) => `${median(samples).toFixed(1)} ms (min ${Math.min(...samples).toFixed(1)}, max ${Math.max(...samples).toFixed(1)})`;

/** A held ssh2 connection and the daemon's tunnel over it, set up as the ssh transport does. */
export async function heldTunnel(fx: SshFixture) {
  const client = await connectClient(fx.sshd);
  const queue = new ChannelQueue(client);
  const tunnel = await startTunnel({
    queue,
    userHost: `${fx.sshd.user}@${fx.sshd.host}`,
    port: String(fx.sshd.port),
    standbyCommand: `git-upload-pack ${sqQuote(fx.remotePath)}`,
    log: () => {},
  });
  return { client, queue, tunnel };
}

/** 1: one no-op fetch, relayed over a held ssh2 connection vs a fresh OpenSSH connection. */
async function fetchCost(fx: SshFixture): Promise<void> {
  const { client, tunnel } = await heldTunnel(fx);
  try {
    const relayed: number[] = [];
    const fresh: number[] = [];
    await run(fx.local, tunnel.env, ['fetch', '-q', 'origin']); // warm caches
    for (let i = 0; i < SAMPLES; i++) {
      relayed.push(await timed(() => run(fx.local, tunnel.env, ['fetch', '-q', 'origin'])));
      fresh.push(await timed(() => run(fx.local, fx.sshEnv, ['fetch', '-q', 'origin'])));
    }
    report(`ssh: no-op git fetch through the tunnel, median of ${SAMPLES}`, fmt(relayed));
    report(`ssh: no-op git fetch over a fresh OpenSSH connection`, `${fmt(fresh)}; tunnel saves ${(median(fresh) - median(relayed)).toFixed(0)} ms`);
  } finally {
    await tunnel.close();
    client.end();
  }
}

/**
 * 1b: one new commit fetched four ways, the same change each time, order rotated sample by sample:
 * over an open ControlMaster and through the daemon's tunnel, each as a plain `git fetch origin`
 * and with the daemon's command line (workers/fetchargs.ts). What the tunnel and the left-out
 * housekeeping are each worth. `node dist/bench/ssh.js fetch` runs it alone.
 */
async function fetchWays(fx: SshFixture): Promise<void> {
  const { client, tunnel } = await heldTunnel(fx);
  const master = await startControlMaster(fx);
  const dir = tempDir('grd-bench-ways-');
  try {
    const ours = [...fetchArgs({ remote: 'origin', writeFetchHead: false })];
    const ways = {
      'ControlMaster, plain git fetch': { env: master.env, args: ['fetch', 'origin'] },
      'ControlMaster, the daemon\'s fetch': { env: { ...master.env, ...fetchEnv('origin') }, args: ours },
      'tunnel, plain git fetch': { env: tunnel.env, args: ['fetch', 'origin'] },
      'tunnel, the daemon\'s fetch': { env: { ...tunnel.env, ...fetchEnv('origin') }, args: ours },
    };
    const names = Object.keys(ways) as (keyof typeof ways)[];
    const clones = Object.fromEntries(names.map((name, i) => {
      const clone = join(dir.path, `c${i}`);
      gitEnv(dir.path, fx.sshEnv, 'clone', '-q', fx.url, clone);
      return [name, clone];
    })) as Record<keyof typeof ways, string>;
    const samples = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<keyof typeof ways, number[]>;
    for (let i = 0; i < SAMPLES; i++) {
      await pushOnce(fx);
      for (let k = 0; k < names.length; k++) {
        const name = names[(i + k) % names.length]!;
        samples[name].push(await timed(() => run(clones[name], ways[name].env, ways[name].args)));
      }
    }
    for (const name of names) report(`ssh: one new commit, ${name}, median of ${SAMPLES}`, fmt(samples[name]));
  } finally {
    dir.cleanup();
    await master.stop();
    await tunnel.close();
    client.end();
  }
}

/** Pushes from the pusher clone (a fresh ssh connection, as another user would); returns the sha. */
async function pushOnce(fx: SshFixture): Promise<string> {
  await run(fx.pusher, fx.sshEnv, ['commit', '-q', '--allow-empty', '-m', `bench ${performance.now()}`]);
  const sha = gitEnv(fx.pusher, {}, 'rev-parse', 'HEAD');
  await run(fx.pusher, fx.sshEnv, ['push', '-q', 'origin', 'HEAD:refs/heads/main']);
  return sha;
}

/** 2: the transport alone in this process: CHANGED -> `git fetch` through the tunnel. */
async function transportLatency(fx: SshFixture): Promise<number[]> {
  const spec = {
    name: 'origin',
    url: fx.url,
    transport: 'ssh' as const,
    fetchRefspecs: ['+refs/heads/*:refs/remotes/origin/*'],
    options: { sshCommand: fx.sshd.sshCommand },
  };
  const live = { pollIntervalSeconds: 60, reportUpdates: false };
  let fetched: ((at: number) => void) | undefined;
  let fetching: Promise<void> = Promise.resolve();
  let env: Record<string, string> = {};
  const events = {
    changed: (_change: RemoteChange) => {
      // One fetch at a time, like the daemon's fetcher.
      fetching = fetching.then(async () => {
        await run(fx.local, env, ['fetch', '-q', 'origin']);
        fetched?.(performance.now());
      });
    },
    condition: (_kind: string, text: string | null) => text && console.error(`warning: ${text}`),
    watching: () => {},
    log: () => {},
  };
  const connection = await create({ spec, repo: { cwd: fx.local, gitDir: join(fx.local, '.git') }, live: () => live }).connect(events, new AbortController().signal);
  env = (await connection.fetchPlan()).env ?? {};
  try {
    const samples: number[] = [];
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      await sleep(QUIET_MS);
      let sha = '';
      const done = new Promise<number>((resolve) => {
        fetched = (at) => {
          if (sha && gitEnv(fx.local, {}, 'rev-parse', 'refs/remotes/origin/main') === sha) resolve(at);
        };
      });
      sha = await pushOnce(fx);
      const pushed = performance.now();
      fetched!(pushed); // the fetch may have finished before `git push` returned
      samples.push(Math.max(0, (await done) - pushed));
    }
    return samples;
  } finally {
    await connection.close();
  }
}

/** Waits for a "fetched" protocol line (and that the ref arrived) after each push; returns the latencies. */
async function protocolLatency(
  fx: SshFixture,
  clone: string,
  lines: string[],
  isDone: (line: string) => boolean,
  onLine: (listener: () => void) => () => void,
  afterSample?: () => Promise<void>,
  /** Records, per sample, when the fetch began (`SYNCING`) relative to the push's return. */
  started?: { line: string; at: number[] },
  /** Records each sample's window for its stage marks (bench/stages.ts): from the commit's start, counted from the push's return. */
  windows?: Window[],
): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    await sleep(QUIET_MS);
    let sha = '';
    let from = lines.length;
    const first = from;
    let syncingAt: number | undefined;
    let check = () => {};
    const arrived = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => (off(), reject(new Error(`no fetch within 20 s; lines: ${lines.slice(-5).join(' | ')}`))), 20_000);
      check = () => {
        if (started && syncingAt === undefined && lines.indexOf(started.line, first) >= 0) syncingAt = performance.now();
        if (!sha) return; // the push has not returned yet: keep the lines for when it has
        for (; from < lines.length; from++) {
          if (!isDone(lines[from]!)) continue;
          const seen = performance.now(); // when the line came; checking the ref costs a git process
          if (gitEnv(clone, {}, 'rev-parse', 'refs/remotes/origin/main') === sha) {
            clearTimeout(timer);
            off();
            return resolve(seen);
          }
        }
      };
      const off = onLine(() => check());
    });
    const pushStart = epochNow();
    sha = await pushOnce(fx);
    const pushed = performance.now();
    check();
    const at = await arrived;
    samples.push(Math.max(0, at - pushed));
    windows?.push({ from: pushStart, zero: performance.timeOrigin + pushed, to: performance.timeOrigin + at, written: refWrittenAt(fx.remotePath, 'refs/heads/main') });
    if (started && syncingAt !== undefined) started.at.push(syncingAt - pushed);
    await afterSample?.();
  }
  return samples;
}

/**
 * The floor a user without the daemon has: OpenSSH connection sharing (ControlMaster) keeps a
 * connection open, and a plain `git fetch origin` in a clone of its own fetches each change over it.
 */
export async function startControlMaster(fx: SshFixture): Promise<{ env: Record<string, string>; fetch(): Promise<number>; listAndFetch(): Promise<number>; stop(): Promise<void> }> {
  const dir = tempDir('grd-bench-cm-');
  const socket = join(dir.path, 'cm');
  const clone = join(dir.path, 'floor');
  const target = ['-p', String(fx.sshd.port), `${fx.sshd.user}@${fx.sshd.host}`];
  const master = spawn(fx.sshd.sshArgs[0]!, [...fx.sshd.sshArgs.slice(1), '-o', 'ControlMaster=yes', '-o', `ControlPath=${socket}`, '-N', ...target], { stdio: 'ignore' });
  const gone = new Promise<void>((r) => master.once('exit', () => r()));
  const check = () => new Promise<boolean>((r) => spawn('ssh', ['-o', `ControlPath=${socket}`, '-O', 'check', ...target], { stdio: 'ignore' }).once('exit', (code) => r(code === 0)));
  const stop = async () => {
    master.kill();
    await gone;
    dir.cleanup();
  };
  try {
    const deadline = Date.now() + 20_000;
    while (!(await check())) {
      if (Date.now() > deadline || master.exitCode !== null) throw new Error('the ControlMaster connection did not come up');
      await sleep(20);
    }
    const env = { GIT_SSH_COMMAND: `${fx.sshd.sshCommand} -o ControlMaster=no -o ControlPath=${socket}` };
    gitEnv(dir.path, fx.sshEnv, 'clone', '-q', fx.url, clone);
    await run(clone, env, ['fetch', 'origin']); // warm
    return {
      env,
      fetch: () => timed(() => run(clone, env, ['fetch', 'origin'])),
      // What a nudge costs anyone without the daemon: look at the remote's refs, then fetch.
      listAndFetch: () =>
        timed(async () => {
          await run(clone, env, ['ls-remote', 'origin']);
          await run(clone, env, ['fetch', 'origin']);
        }),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * 3a: the daemon itself, over ssh, next to its floor: after each push has reached the daemon's
 * tracking ref, a plain `git fetch origin` of the same change over an open ControlMaster.
 */
async function daemonLatency(fx: SshFixture, stages?: StageRecord): Promise<{ ours: number[]; floor: number[]; syncing: number[] } | string> {
  gitEnv(fx.local, {}, 'config', 'core.sshCommand', fx.sshd.sshCommand);
  const daemon = startDaemon(fx.local, ['--foreground', '--verbose'], stages ? { GRD_P2P_TIMING: stages.file } : {});
  try {
    try {
      await daemon.waitFor('CONNECTED origin', { timeoutMs: 20_000 });
    } catch (err) {
      return `not measured: the daemon did not connect over ssh (${(err as Error).message.split('\n')[0]}; ${daemon.stderr.slice(-5).join(' / ')})`;
    }
    let master: Awaited<ReturnType<typeof startControlMaster>>;
    try {
      master = await startControlMaster(fx);
    } catch (err) {
      return `not measured: ${(err as Error).message}`;
    }
    const listeners = new Set<() => void>();
    const timer = setInterval(() => listeners.forEach((l) => l()), 1);
    const floor: number[] = [];
    const started = { line: 'SYNCING origin', at: [] as number[] };
    try {
      const ours = await protocolLatency(
        fx,
        fx.local,
        daemon.lines,
        (l) => l === 'DONESYNCING origin 1',
        (listener) => {
          listeners.add(listener);
          return () => listeners.delete(listener);
        },
        async () => void floor.push(await master.fetch()),
        started,
        stages?.windows,
      );
      return { ours, floor, syncing: started.at };
    } finally {
      clearInterval(timer);
      await master.stop();
    }
  } finally {
    await daemon.stop();
  }
}

/** 3b: `git annex remotedaemon` on the same server, in its own clone. */
async function annexLatency(fx: SshFixture): Promise<number[] | string> {
  try {
    await fx.sshd.runAsUser(['git', 'annex', 'init', '-q', 'server'], { cwd: fx.remotePath, env: IDENTITY });
  } catch (err) {
    return `not measured: git annex init on the server failed (${(err as Error).message.split('\n')[0]})`;
  }
  const dir = tempDir('grd-bench-annex-');
  const c = join(dir.path, 'annex-client');
  try {
    gitEnv(dir.path, fx.sshEnv, 'clone', '-q', fx.url, c);
    gitEnv(c, {}, 'config', 'core.sshCommand', fx.sshd.sshCommand);
    gitEnv(c, {}, 'config', 'annex.sshcaching', 'false');
    gitEnv(c, {}, 'config', 'remote.origin.annex-ssh-options', fx.sshd.sshArgs.slice(1).join(' '));
    gitEnv(c, fx.sshEnv, 'annex', 'init', '-q', 'client');
    gitEnv(c, fx.sshEnv, 'fetch', '-q', 'origin');
    // Its own process group, so every ssh it starts goes with it.
    const child = spawn('git', ['annex', 'remotedaemon', '--foreground'], { cwd: c, detached: true, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...IDENTITY } });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const lines: string[] = [];
    const listeners = new Set<() => void>();
    let buffered = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      buffered += d;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        lines.push(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
      }
      listeners.forEach((l) => l());
    });
    child.stderr.resume();
    try {
      const deadline = Date.now() + 30_000;
      while (!lines.some((l) => l.startsWith('CONNECTED '))) {
        if (Date.now() > deadline) return `not measured: git annex remotedaemon did not connect (${lines.join(' | ')})`;
        await sleep(10);
      }
      return await protocolLatency(fx, c, lines, (l) => /^DONESYNCING \S+ 1$/.test(l), (listener) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      });
    } finally {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
      await exited;
    }
  } finally {
    dir.cleanup();
  }
}

/** 4: `git ls-remote` and a push through `git-remote-daemon-shell <base>` vs `git-shell`, both as forced commands. */
async function shellCost(fx: SshFixture): Promise<void> {
  const keys = join(fx.sshd.dir, 'authorized_keys');
  const base = dirname(fx.remotePath);
  const lines = {
    // The documented forced command; on the server's PATH as npm installs it (a symlink).
    ours: `command="git-remote-daemon-shell ${base}",restrict ${fx.sshd.clientPublicKey}\n`,
    // git's own documented way to confine a key to git-shell without changing the login shell.
    gitShell: `command="git-shell -c \\"$SSH_ORIGINAL_COMMAND\\"",restrict ${fx.sshd.clientPublicKey}\n`,
  };
  const samples = { ours: { lsRemote: [] as number[], push: [] as number[] }, gitShell: { lsRemote: [] as number[], push: [] as number[] } };
  const once = async (which: keyof typeof lines, record: boolean) => {
    await writeFile(keys, lines[which]); // sshd reads it for each new connection
    const lsRemote = await timed(() => run(fx.local, fx.sshEnv, ['ls-remote', '-q', 'origin']));
    await run(fx.pusher, {}, ['commit', '-q', '--allow-empty', '-m', `bench ${performance.now()}`]);
    const push = await timed(() => run(fx.pusher, fx.sshEnv, ['push', '-q', 'origin', 'HEAD:refs/heads/main']));
    if (record) {
      samples[which].lsRemote.push(lsRemote);
      samples[which].push.push(push);
    }
  };
  try {
    for (const which of ['ours', 'gitShell'] as const) await once(which, false); // warm caches
    for (let i = 0; i < SAMPLES; i++) {
      // Alternate which goes first, so that neither always follows the other's disk writes.
      const order = i % 2 === 0 ? (['ours', 'gitShell'] as const) : (['gitShell', 'ours'] as const);
      for (const which of order) await once(which, true);
    }
  } finally {
    await writeFile(keys, `${fx.sshd.clientPublicKey}\n`);
  }
  for (const what of ['lsRemote', 'push'] as const) {
    const label = what === 'lsRemote' ? 'git ls-remote' : 'push of one commit';
    report(`ssh: ${label} through git-shell (forced command), median of ${SAMPLES}`, fmt(samples.gitShell[what]));
    report(`ssh: ${label} through git-remote-daemon-shell <base>`, fmt(samples.ours[what]));
    const ratio = median(samples.ours[what]) / median(samples.gitShell[what]);
    report(`ssh: ratio restricted shell / git-shell, ${label} (target <= 1.30)`, `${ratio.toFixed(2)} ${ratio <= 1.3 ? 'met' : 'NOT MET'}`);
  }
}

/**
 * Returns the daemon's median push-to-fetched (the floor of the p2p section), when measured.
 * `stages`: where the daemon section marks its stages (the p2p section compares them with its own).
 */
export async function benchSsh(stages?: StageRecord): Promise<number | undefined> {
  const fx = await makeSshFixture({ serverBin: { gitRemoteDaemon: true } });
  try {
    await fetchCost(fx);
    await fetchWays(fx);
    const transport = await transportLatency(fx);
    report(`ssh: push-to-fetched, transport in-process, median of ${LATENCY_SAMPLES}`, fmt(transport));
    const ours = await daemonLatency(fx, stages);
    const annex = await annexLatency(fx);
    if (typeof ours === 'string') report('ssh: push-to-fetched, git-remote-daemon', ours);
    else reportAgainstFloor(ours);
    report(`ssh: push-to-fetched, git annex remotedaemon, same sshd`, typeof annex === 'string' ? annex : fmt(annex));
    if (typeof ours !== 'string' && typeof annex !== 'string') {
      report('ssh: ratio git-remote-daemon / git-annex', (median(ours.ours) / median(annex)).toFixed(3));
    }
    await shellCost(fx);
    return typeof ours === 'string' ? undefined : median(ours.ours);
  } finally {
    await fx.cleanup();
  }
}

function reportAgainstFloor(measured: { ours: number[]; floor: number[]; syncing: number[] }): void {
  report(`ssh: push-to-fetched, git-remote-daemon, median of ${LATENCY_SAMPLES}`, fmt(measured.ours));
  if (measured.syncing.length) report('ssh:   of which push returned -> SYNCING (negative: before it returned)', fmt(measured.syncing));
  report('ssh: floor: plain git fetch of the same change over an open ControlMaster', fmt(measured.floor));
  report('ssh: ratio git-remote-daemon / ControlMaster floor, median per push (target <= 0.80)', pairedRatio(measured.ours, measured.floor, 0.8));
}

/** Section 3a alone, the daemon next to its ControlMaster floor: `node dist/bench/ssh.js latency`. */
export async function benchSshLatency(stages?: StageRecord): Promise<number | undefined> {
  const fx = await makeSshFixture({ serverBin: { gitRemoteDaemon: true } });
  try {
    const ours = await daemonLatency(fx, stages);
    if (typeof ours === 'string') return void report('ssh: push-to-fetched, git-remote-daemon', ours);
    reportAgainstFloor(ours);
    return median(ours.ours);
  } finally {
    await fx.cleanup();
  }
}

/** Section 4 alone: `node dist/bench/ssh.js shell`. */
export async function benchShellCost(): Promise<void> {
  const fx = await makeSshFixture({ serverBin: { gitRemoteDaemon: true } });
  try {
    await shellCost(fx);
  } finally {
    await fx.cleanup();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv[2] === 'shell') await benchShellCost();
  else if (process.argv[2] === 'latency') await benchSshLatency();
  else if (process.argv[2] === 'fetch') {
    const fx = await makeSshFixture({ serverBin: { gitRemoteDaemon: true } });
    try {
      await fetchWays(fx);
    } finally {
      await fx.cleanup();
    }
  }
  else await benchSsh();
}
