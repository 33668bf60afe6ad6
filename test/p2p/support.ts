// Two (or more) repositories that are each other's peers, on a hyperdht testnet in this process,
// all on loopback: nothing leaves the machine. Each peer node joins as a reachable node
// (`remotedaemon.p2p.reachable`), which cross-process testnets need to connect reliably.

import { startDaemon, type RunningDaemon } from '../support/daemon.js';
import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import createTestnet, { type Testnet } from 'hyperdht/testnet.js';
import { MessageChannel } from 'node:worker_threads';
import type { EndpointLink, ToEndpoint } from '../../shared/plugin.js';
import type { NodeSettings } from '../../workers/p2p/settings.js';
import { git, tempDir, commit } from '../support/git.js';
import { refuseInUnitRun } from '../support/unitrun.js';

export const BIN_DIR = fileURLToPath(new URL('../../../bin', import.meta.url));
export const DAEMON = join(BIN_DIR, 'git-remote-daemon');

export interface Peers {
  root: string;
  testnet: Testnet;
  bootstrap: string;
  /** Repository path by name. */
  repo(name: string): string;
  address(name: string): string;
  /** A new repository named `name`, its peer settings set; a first commit on main when `seed`. */
  make(name: string, options?: { seed?: boolean }): string;
  /** `a` gets `b` as a remote named `b`. */
  link(a: string, b: string, remote?: string): void;
  /** git with bin/ on PATH, as a user who installed the package has it. */
  git(name: string, ...args: string[]): string;
  env: NodeJS.ProcessEnv;
  cleanup(): Promise<void>;
}

export async function makePeers(t: { after(fn: () => unknown): void }): Promise<Peers> {
  refuseInUnitRun('makePeers (a hyperdht testnet)');
  const dir = tempDir('grd-p2p-');
  const testnet = await createTestnet(3);
  const bootstrap = testnet.bootstrap.map((b) => `${b.host}:${b.port}`).join(',');
  const env = { ...process.env, PATH: `${BIN_DIR}:${process.env.PATH}`, GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0' };
  const repos = new Map<string, string>();
  const addresses = new Map<string, string>();
  const peers: Peers = {
    root: dir.path,
    testnet,
    bootstrap,
    env,
    repo: (name) => repos.get(name)!,
    address: (name) => addresses.get(name)!,
    make(name, { seed = false } = {}) {
      const path = join(dir.path, name);
      git(dir.path, 'init', '-q', '-b', 'main', path);
      for (const [k, v] of [
        ['remotedaemon.p2p.bootstrap', bootstrap],
        ['remotedaemon.p2p.host', '127.0.0.1'],
        ['remotedaemon.p2p.reachable', 'true'],
        ['user.name', 'Test'],
        ['user.email', 'test@example.invalid'],
      ]) git(path, 'config', k, v);
      if (seed) commit(path, `first in ${name}`);
      repos.set(name, path);
      addresses.set(name, execFileSync(DAEMON, ['p2p', 'address'], { cwd: path, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
      return path;
    },
    link(a, b, remote = b) {
      git(repos.get(a)!, 'remote', 'add', remote, addresses.get(b)!);
    },
    git: (name, ...args) => execFileSync('git', args, { cwd: repos.get(name)!, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim(),
    async cleanup() {
      await testnet.destroy();
      dir.cleanup();
    },
  };
  t.after(() => peers.cleanup());
  return peers;
}

/**
 * Two seeded repositories `a` and `b`, each the other's peer remote, each with its daemon in the
 * foreground (stopped after the test); resolves once A has caught up with B.
 */
export async function twoPeers(t: { after(fn: () => unknown): void }): Promise<{ p: Peers; a: string; b: string; da: RunningDaemon; db: RunningDaemon }> {
  const p = await makePeers(t);
  const a = p.make('a', { seed: true });
  const b = p.make('b', { seed: true });
  p.link('a', 'b');
  p.link('b', 'a');
  const da = startDaemon(a, ['--foreground', '--verbose'], p.env);
  const db = startDaemon(b, ['--foreground', '--verbose'], p.env);
  t.after(() => Promise.all([da.stop(), db.stop()]));
  await da.waitFor('DONESYNCING b 1', { timeoutMs: 30_000 });
  return { p, a, b, da, db };
}

/** Waits for a line on the daemon's stderr (its log with --verbose). */
export async function logged(d: { stderr: string[] }, match: RegExp, timeoutMs = 20_000, from = 0): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = d.stderr.slice(from).find((l) => match.test(l));
    if (line !== undefined) return line;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${match} in the log:\n${d.stderr.slice(-30).join('\n')}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Runs git with bin/ on PATH; resolves with exit code and output (never throws). */
export function gitRun(cwd: string, env: NodeJS.ProcessEnv, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('git', args, { cwd, env, encoding: 'utf8' }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/**
 * A running p2p endpoint (and so a peer node child) for `repo`, in this process: what the daemon
 * runs, without the daemon, for tests that drive a transport directly.
 */
export async function runEndpoint(repo: string, settings: NodeSettings): Promise<{ link(remote: string, url: string): EndpointLink; stop(): Promise<void> }> {
  const { default: endpoint } = await import('../../workers/p2p/endpoint.js');
  const control = new MessageChannel();
  const running = endpoint({ kind: 'endpoint', plugin: 'p2p', settings: { ...settings }, repo: { cwd: repo, gitDir: join(repo, '.git') }, port: control.port1 });
  running.catch(() => {});
  // Ready once its node says so (a dial before the node serves finds nobody); the rest is not looked at.
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the peer node for ${repo} did not start`)), 20_000);
    control.port2.on('message', (m: { type: string; text?: string }) => {
      if (m.type === 'log' && m.text?.startsWith('peer node up')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return {
    link(remote, url) {
      const channel = new MessageChannel();
      control.port2.postMessage({ type: 'attach', remote, url, port: channel.port1 } satisfies ToEndpoint, [channel.port1]);
      const listeners = new Set<(m: unknown) => void>();
      channel.port2.on('message', (m) => listeners.forEach((fn) => fn(m)));
      return {
        post: (m) => channel.port2.postMessage(m),
        onMessage(fn) {
          listeners.add(fn);
          return () => listeners.delete(fn);
        },
      };
    },
    async stop() {
      control.port2.postMessage({ type: 'stop' } satisfies ToEndpoint);
      await running.catch(() => {});
      control.port2.close();
    },
  };
}
