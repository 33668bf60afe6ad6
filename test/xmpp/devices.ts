// Two devices of one user, each with a clone of a shared "forge" repository served over ssh with
// no notifier and a 600 s poll (so only a notice can make a device look early), each running the
// daemon with `remotedaemon.xmpp.jid` set to the same account on a real Prosody.

import { execFile, spawn } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { makeSshFixture, gitEnv, type SshFixture } from '../ssh/fixture.js';
import { eventually, startDaemon, type RunningDaemon } from '../support/daemon.js';
import { encodeNotice, normaliseUrl } from '../../workers/notice/format.js';
import { startProsody, type Prosody } from './prosody.js';

const execFileAsync = promisify(execFile);

export const PASSWORD = 'correct horse';

export interface Devices {
  xmpp: Prosody;
  fx: SshFixture;
  /** me@localhost */
  account: string;
  a: string;
  b: string;
  /** NODE_EXTRA_CA_CERTS for anything that talks to the server. */
  env: Record<string, string>;
  start(repo: string): RunningDaemon;
  /** Commits on device `repo` and pushes main to the forge; returns the sha. */
  push(repo: string): string;
  /** A valid notice for the forge repository, as any device would send it. */
  notice(sha: string): string;
  /** Sends `count` copies of `payload` from `jid` to `to` as headline notices; resolves once the server has them all. */
  send(jid: string, to: string, payload: string, count?: number, kind?: 'subscribe'): Promise<void>;
  /**
   * A daemon of account `jid` as ours sees it (listen-notices.ts): subscribed both ways with our
   * account, announced, and printing every notice it receives; killed when the test ends.
   */
  listen(jid: string): Promise<Listener>;
}

export interface Listener {
  /** The payload of every notice received so far, in order. */
  notices: string[];
  /** What it said on stderr, and how it ended if it did: for a failing test's message. */
  trouble: string;
}

type T = { after(fn: () => unknown): void };

export async function makeDevices(t: T, options: { smacks: boolean }): Promise<Devices> {
  const xmpp = await startProsody({ smacks: options.smacks });
  t.after(() => xmpp.dispose());
  const account = await xmpp.register('me', PASSWORD);
  const fx = await makeSshFixture({});
  t.after(() => fx.cleanup());
  const root = join(fx.local, '..');
  const a = fx.local;
  const b = join(root, 'device-b');
  gitEnv(root, fx.sshEnv, 'clone', '-q', fx.url, b);
  const passwordFile = join(root, 'xmpp-password');
  writeFileSync(passwordFile, `${PASSWORD}\n`);
  chmodSync(passwordFile, 0o600);
  const store = join(root, 'credentials');
  writeFileSync(store, `xmpp://me:${encodeURIComponent(PASSWORD)}@localhost\n`, { mode: 0o600 });
  for (const repo of [a, b]) {
    gitEnv(repo, {}, 'config', 'core.sshCommand', fx.sshd.sshCommand);
    gitEnv(repo, {}, 'config', 'remote.origin.remotedaemon-pollInterval', '600');
    gitEnv(repo, {}, 'config', 'remotedaemon.xmpp.jid', account);
    gitEnv(repo, {}, 'config', 'remotedaemon.xmpp.service', xmpp.service);
  }
  // One device reads a password file, the other asks git's credential helpers.
  gitEnv(a, {}, 'config', 'remotedaemon.xmpp.passwordFile', passwordFile);
  gitEnv(b, {}, 'config', 'credential.helper', `store --file=${store}`);
  const env = { NODE_EXTRA_CA_CERTS: xmpp.caFile };
  return {
    xmpp,
    fx,
    account,
    a,
    b,
    env,
    start(repo) {
      const d = startDaemon(repo, ['--foreground', '--verbose'], env);
      t.after(() => d.stop());
      return d;
    },
    push(repo) {
      gitEnv(repo, fx.sshEnv, 'commit', '-q', '--allow-empty', '-m', `change ${Date.now()}`);
      const sha = gitEnv(repo, fx.sshEnv, 'rev-parse', 'HEAD');
      gitEnv(repo, fx.sshEnv, 'push', '-q', 'origin', 'HEAD:refs/heads/main');
      return sha;
    },
    notice: (sha) => encodeNotice({ url: normaliseUrl(fx.url)!, refs: [['refs/heads/main', sha]] }),
    async send(jid, to, payload, count = 1, kind) {
      const script = new URL('./send-notice.js', import.meta.url).pathname;
      await execFileAsync(process.execPath, [script, xmpp.service, jid, PASSWORD, to, String(count), payload, ...(kind ? [kind] : [])], { env: { ...process.env, ...env } });
    },
    async listen(jid) {
      const script = new URL('./listen-notices.js', import.meta.url).pathname;
      const child = spawn(process.execPath, [script, xmpp.service, jid, PASSWORD, account], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      t.after(() => child.kill('SIGKILL'));
      const listener: Listener = { notices: [], trouble: '' };
      let buffered = '';
      child.stderr!.on('data', (d: Buffer) => (listener.trouble += d.toString()));
      await new Promise<void>((resolve, reject) => {
        child.once('exit', (code, signal) => {
          listener.trouble += `exited with ${code ?? signal}`;
          reject(new Error(`listen-notices for ${jid}: ${listener.trouble}`));
        });
        child.stdout!.on('data', (d: Buffer) => {
          buffered += d.toString();
          const lines = buffered.split('\n');
          buffered = lines.pop()!;
          for (const line of lines) {
            if (line === 'READY') resolve();
            else if (line.startsWith('NOTICE ')) listener.notices.push(line.slice('NOTICE '.length));
          }
        });
      });
      return listener;
    },
  };
}

/** Where each device keeps the forge's main branch. */
export const ORIGIN_MAIN = 'refs/remotes/origin/main';

/**
 * Waits until both daemons are logged in and each has seen the other arrive, so a notice from
 * either now reaches the other; resolves to their full JIDs.
 */
export async function seeEachOther(a: RunningDaemon, b: RunningDaemon, timeoutMs?: number): Promise<[string, string]> {
  const [asA, asB] = await Promise.all([loggedInAs(a), loggedInAs(b)]);
  await eventually(() => a.stderr.some((l) => l.includes(`${asB} listens for notices`)) && b.stderr.some((l) => l.includes(`${asA} listens for notices`)), 'each sees the other', timeoutMs);
  return [asA, asB];
}

/** The full JID a daemon logged in as, from its log. */
export async function loggedInAs(d: RunningDaemon): Promise<string> {
  await eventually(() => d.stderr.some((l) => /xmpp endpoint: logged in as /.test(l)), 'logged in to XMPP', 20_000);
  return /logged in as (\S+);/.exec(d.stderr.find((l) => /xmpp endpoint: logged in as /.test(l))!)![1]!;
}
