// One daemon per repository, whatever happens to its files: a Linux abstract-namespace Unix
// socket named from the repository's common git dir. Binding the name fails while another process
// holds it, and the kernel releases it the moment that process ends (even by kill -9); it lives
// in no directory, so `rm -rf .git/remote-daemon` (or a stale pid file) cannot defeat it. The pid
// file stays for what it does well: a record people and scripts can read.
//
// The holder answers every connection with one line, `<pid> <mode>`, so the other commands can
// still find the daemon (to stop it, say) when its pid file is gone.

import { createHash } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';

export type LockMode = 'background' | 'service' | 'foreground';

export interface LockHolder {
  pid: number;
  mode: LockMode;
}

export type LockResult = { ok: true; release(): void } | { ok: false; holder?: LockHolder };

/** The abstract socket's name: a leading NUL puts it in the abstract namespace (Linux only). */
export function lockName(commonDir: string): string {
  let path = commonDir;
  try {
    path = realpathSync(commonDir); // one name however the repository was reached (symlinks)
  } catch {
    // gone or unreadable: the name as given is the best there is
  }
  return `\0git-remote-daemon/${createHash('sha256').update(path).digest('hex')}`;
}

/**
 * Takes the repository's lock for this process, or says who holds it. `beforeAnswer` runs each
 * time another process asks, before it is answered (the daemon makes its files again there).
 */
export function acquireLock(commonDir: string, mode: LockMode, beforeAnswer?: () => void): Promise<LockResult> {
  const name = lockName(commonDir);
  return new Promise((resolve, reject) => {
    const server: Server = createServer((socket) => {
      socket.on('error', () => {});
      beforeAnswer?.();
      socket.end(`${process.pid} ${mode}\n`);
    });
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EADDRINUSE') return reject(new Error(`cannot take the repository lock: ${err.message}`));
      void lockHolder(commonDir).then((holder) => resolve({ ok: false, holder }));
    });
    server.listen(name, () => {
      // The lock must not keep a process alive that has nothing else to do.
      server.unref();
      resolve({ ok: true, release: () => server.close() });
    });
  });
}

/** The process holding the repository's lock, if any (asked over the socket). */
export function lockHolder(commonDir: string, timeoutMs = 2000): Promise<LockHolder | undefined> {
  return new Promise((resolve) => {
    const socket = createConnection(lockName(commonDir));
    let text = '';
    const done = (holder?: LockHolder) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(holder);
    };
    // A holder too busy to answer in time is treated as unknown, not as absent.
    const timer = setTimeout(() => done(), timeoutMs);
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    socket.on('end', () => {
      const match = /^(\d+) (background|service|foreground)\n$/.exec(text);
      done(match ? { pid: Number(match[1]), mode: match[2] as LockMode } : undefined);
    });
    socket.on('error', () => done());
  });
}
