// Shared set-up for the ssh transport tests: a real sshd (test/support/sshd.ts), a bare repository
// on it owned by the test user, a pusher clone that pushes over ssh, a local clone, and a plain
// ssh2 client connected with the harness key and verified against the harness host key.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'ssh2';
import { startSshd, type Sshd, type StartSshdOptions } from '../support/sshd.js';
import { git, gitWithEnv, tempDir } from '../support/git.js';

export interface SshFixture {
  sshd: Sshd;
  /** Absolute path of the bare repository on the server. */
  remotePath: string;
  url: string;
  /** Local clone whose origin is `url` (fetched over the tunnel in tests). */
  local: string;
  /** Clone that pushes to `url` with a fresh ssh connection, as another user would. */
  pusher: string;
  /** Environment for plain git over ssh with the harness key. */
  sshEnv: Record<string, string>;
  cleanup(): Promise<void>;
}

export async function makeSshFixture(opts: StartSshdOptions = {}): Promise<SshFixture> {
  const sshd = await startSshd(opts);
  const local = tempDir('grd-ssh-local-');
  try {
    const repoDir = await sshd.makeRepoDir();
    const remotePath = join(repoDir, 'remote.git');
    await sshd.runAsUser(['git', 'init', '-q', '--bare', '-b', 'main', remotePath]);
    const url = sshd.url(remotePath);
    const sshEnv = { GIT_SSH_COMMAND: sshd.sshCommand };
    const pusher = join(local.path, 'pusher');
    const clone = join(local.path, 'local');
    gitEnv(local.path, sshEnv, 'init', '-q', '-b', 'main', pusher);
    gitEnv(pusher, sshEnv, 'remote', 'add', 'origin', url);
    gitEnv(pusher, sshEnv, 'commit', '-q', '--allow-empty', '-m', 'initial');
    gitEnv(pusher, sshEnv, 'push', '-q', 'origin', 'main');
    gitEnv(local.path, sshEnv, 'clone', '-q', url, clone);
    return {
      sshd,
      remotePath,
      url,
      local: clone,
      pusher,
      sshEnv,
      cleanup: async () => {
        await sshd.dispose();
        local.cleanup();
      },
    };
  } catch (err) {
    await sshd.dispose();
    local.cleanup();
    throw err;
  }
}

/** git with extra environment (the harness ssh command); returns trimmed stdout. */
export const gitEnv = gitWithEnv;

/** Commits in the pusher and pushes main over a fresh ssh connection; returns the new sha. */
export function push(fx: SshFixture, branch = 'main'): string {
  gitEnv(fx.pusher, fx.sshEnv, 'commit', '-q', '--allow-empty', '-m', `change ${Date.now()}`);
  const sha = gitEnv(fx.pusher, fx.sshEnv, 'rev-parse', 'HEAD');
  gitEnv(fx.pusher, fx.sshEnv, 'push', '-q', 'origin', `HEAD:refs/heads/${branch}`);
  return sha;
}

/** A plain ssh2 connection to the harness, host key checked against the harness's own. */
export function connectClient(sshd: Sshd): Promise<Client> {
  const hostKey = Buffer.from(sshd.hostKeys[0]!.publicKey.split(/\s+/)[1]!, 'base64');
  return new Promise((resolve, reject) => {
    const client = new Client();
    client.once('ready', () => resolve(client));
    client.once('error', reject);
    client.connect({
      host: sshd.host,
      port: sshd.port,
      username: sshd.user,
      privateKey: readFileSync(sshd.clientKey),
      hostVerifier: (key: Buffer) => key.equals(hostKey),
      keepaliveInterval: 15_000,
      keepaliveCountMax: 3,
    });
    client.once('ready', () => (client as unknown as { _sock?: { setNoDelay?(on: boolean): void } })._sock?.setNoDelay?.(true));
  });
}

export { git };
