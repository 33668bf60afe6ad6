// Peer identities: ed25519 key pairs, each kept as its 32-byte seed in a file of its own.
//
// - A repository's identity: `<git dir>/remote-daemon/p2p-key`. Its public key is the
//   repository's address, what peers dial and allow.
// - The user's identity: `$XDG_CONFIG_HOME/git-remote-daemon/p2p-key` (~/.config/...). It is who
//   you are to a peer before a repository of yours has a key: `git clone p2p://...` connects with
//   it, and the new clone keeps it as its own key (a copy, see adoptUserIdentity), so the one
//   `remotedaemon.p2p.allow` entry that let you clone also lets the clone's daemon in.
//
// Whoever reads a key file can be that identity to every peer that trusts it, so a file others can
// read is refused, never silently fixed: the key may already have leaked, and the user must decide
// whether to rotate it.

import { chmodSync, closeSync, lstatSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export interface Identity {
  /** Hex. */
  publicKey: string;
  seed: Buffer;
  file: string;
}

export function keyFile(commonGitDir: string): string {
  return join(commonGitDir, 'remote-daemon', 'p2p-key');
}

/** Where the user's identity lives: beside git's own per-user config, never in a repository. */
export function userKeyFile(env: NodeJS.ProcessEnv = process.env): string {
  const config = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return join(config, 'git-remote-daemon', 'p2p-key');
}

export class KeyFileError extends Error {
  override name = 'KeyFileError';
}

const REPOSITORY_HEADER = '# git-remote-daemon peer key of this repository: keep it secret';
const USER_HEADER = '# git-remote-daemon peer key of this user (every clone made with git clone p2p:// keeps a copy): keep it secret';

/** Reads the repository's identity, creating it on first use when `create`; throws KeyFileError when unsafe. */
export function loadIdentity(commonGitDir: string, { create }: { create: boolean }): Promise<Identity> {
  return loadKeyFile(keyFile(commonGitDir), create ? () => `${REPOSITORY_HEADER}\n${newSeed()}\n` : undefined);
}

/** Reads the user's identity, creating it on first use when `create`; throws KeyFileError when unsafe. */
export function loadUserIdentity({ create, env }: { create: boolean; env?: NodeJS.ProcessEnv }): Promise<Identity> {
  return loadKeyFile(userKeyFile(env), create ? () => `${USER_HEADER}\n${newSeed()}\n` : undefined);
}

/**
 * The repository's identity if it has one; else the user's (made on first need), which the
 * repository then keeps as its own key: what `git-remote-p2p` does in a repository being cloned
 * (git made it a moment ago, so it has no key) or in one that nothing gave a key yet.
 *
 * A copy, not a link: a symlink inside `.git/remote-daemon` is what the daemon refuses from other
 * users, and a copy stays the repository's key if the user's is later rotated (the peers that
 * allowed it keep letting this repository in).
 */
export async function repositoryOrUserIdentity(commonGitDir: string, env?: NodeJS.ProcessEnv): Promise<{ identity: Identity; adopted: boolean }> {
  if (exists(keyFile(commonGitDir))) return { identity: await loadIdentity(commonGitDir, { create: false }), adopted: false };
  const user = await loadUserIdentity({ create: true, env });
  const text = `# git-remote-daemon peer key of this repository, copied from ${user.file} (your user identity): keep it secret\n${user.seed.toString('hex')}\n`;
  // Created exclusively: a daemon that made the repository a key of its own meanwhile wins, and
  // that key is used.
  const identity = await loadKeyFile(keyFile(commonGitDir), () => text);
  return { identity, adopted: identity.publicKey === user.publicKey };
}

/**
 * A name for the repository's key that tells two equal keys apart from two different ones and
 * says nothing of the key (a hash of its seed); none when it has no readable key yet (its node
 * makes one of its own) or the file is unsafe (its node refuses it, and says why).
 */
export function keyFileTag(commonGitDir: string): string | undefined {
  try {
    const file = keyFile(commonGitDir);
    if (statSync(file).mode & 0o077) return undefined;
    const match = /^([0-9a-f]{64})$/m.exec(readFileSync(file, 'utf8'));
    return match ? createHash('sha256').update(`git-remote-daemon peer key\0${match[1]}`).digest('hex').slice(0, 32) : undefined;
  } catch {
    return undefined;
  }
}

/** True when `publicKey` (hex) is the user's own key (a clone that kept it), without creating anything. */
export async function isUserIdentity(publicKey: string, env?: NodeJS.ProcessEnv): Promise<boolean> {
  try {
    return (await loadUserIdentity({ create: false, env })).publicKey === publicKey;
  } catch {
    return false; // no user key (or an unsafe one, refused where it is used): not the same key
  }
}

function exists(file: string): boolean {
  try {
    lstatSync(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

function newSeed(): string {
  return randomBytes(32).toString('hex');
}

async function loadKeyFile(file: string, make: (() => string) | undefined): Promise<Identity> {
  let text: string;
  try {
    const stat = statSync(file);
    if (stat.mode & 0o077) {
      throw new KeyFileError(
        `${file} is readable by others (mode ${(stat.mode & 0o777).toString(8)}); refusing to use it. ` +
          `Run chmod 600 ${file} if nobody else could have read it, or delete it for a new address.`,
      );
    }
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !make) {
      if (err instanceof KeyFileError) throw err;
      throw new KeyFileError(`cannot read the peer key ${file}: ${(err as Error).message}`);
    }
    text = writeNew(file, make());
  }
  const match = /^([0-9a-f]{64})$/m.exec(text);
  if (!match) throw new KeyFileError(`${file} holds no key (expected 64 hex digits)`);
  const seed = Buffer.from(match[1], 'hex');
  const { default: DHT } = await import('hyperdht');
  return { publicKey: DHT.keyPair(seed).publicKey.toString('hex'), seed, file };
}

function writeNew(file: string, text: string): string {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  // 'wx' (O_CREAT|O_EXCL, which also refuses a symlink planted at the name): two processes
  // creating it at once must not end with two different keys in use.
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readFileSync(file, 'utf8');
    throw err;
  }
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  chmodSync(file, 0o600); // a umask cannot widen it, but be explicit
  return text;
}
