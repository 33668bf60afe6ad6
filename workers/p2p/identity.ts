// This repository's peer identity: one ed25519 key pair, its 32-byte seed in
// `<git dir>/remote-daemon/p2p-key`. Whoever reads the file can be this repository to every peer
// that trusts it, so a file others can read is refused, never silently fixed: the key may already
// have leaked, and the user must decide whether to rotate it.

import { chmodSync, mkdirSync, openSync, readFileSync, statSync, writeSync, closeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

export interface Identity {
  /** Hex. */
  publicKey: string;
  seed: Buffer;
  file: string;
}

export function keyFile(commonGitDir: string): string {
  return join(commonGitDir, 'remote-daemon', 'p2p-key');
}

export class KeyFileError extends Error {
  override name = 'KeyFileError';
}

/** Reads the identity, creating it on first use when `create`; throws KeyFileError when unsafe. */
export async function loadIdentity(commonGitDir: string, { create }: { create: boolean }): Promise<Identity> {
  const file = keyFile(commonGitDir);
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
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !create) {
      if (err instanceof KeyFileError) throw err;
      throw new KeyFileError(`cannot read the peer key ${file}: ${(err as Error).message}`);
    }
    text = writeNew(file);
  }
  const match = /^([0-9a-f]{64})$/m.exec(text);
  if (!match) throw new KeyFileError(`${file} holds no key (expected 64 hex digits)`);
  const seed = Buffer.from(match[1], 'hex');
  const { default: DHT } = await import('hyperdht');
  return { publicKey: DHT.keyPair(seed).publicKey.toString('hex'), seed, file };
}

function writeNew(file: string): string {
  const dir = join(file, '..');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const text = `# git-remote-daemon peer key of this repository: keep it secret\n${randomBytes(32).toString('hex')}\n`;
  // 'wx': two processes creating it at once must not end with two different keys in use.
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
