// No orphan daemons: a daemon whose repository (or worktree) has been deleted would otherwise run,
// reconnect and log into nowhere for as long as the machine is up. This notices within a second or
// two and says what is gone, and also notices when only the daemon's own files went (someone ran
// `rm -rf .git/remote-daemon`), so they can be made again while the repository is still there.
//
// It polls, once a second: a stat or two per second costs nothing, and it sees any way a path can
// go (rm -rf of a parent, a rename of the repository, a worktree removed by git) where inotify
// would need a watch on every ancestor directory and a fresh one after each re-creation.

import { existsSync } from 'node:fs';
import { join } from 'node:path';

export interface WatchdogOptions {
  /** Where git commands run: the worktree's top (or the git dir of a bare repository). */
  worktree: string;
  /** The repository's common git dir. */
  commonDir: string;
  /** The repository or worktree is gone (`what` says which): the daemon should stop. Called once. */
  gone(what: string): void;
  /** Each round while the repository is there: check the daemon's own files, re-create what is missing. */
  check?(): void;
  intervalMs?: number;
}

export function watchRepository(options: WatchdogOptions): () => void {
  const timer = setInterval(() => {
    // HEAD is replaced by a rename, never removed, while git works: its absence means no repository.
    const what = !existsSync(join(options.commonDir, 'HEAD'))
      ? `the repository ${options.commonDir}`
      : !existsSync(options.worktree)
        ? `the worktree ${options.worktree}`
        : undefined;
    if (what) {
      clearInterval(timer);
      options.gone(what);
      return;
    }
    options.check?.();
  }, options.intervalMs ?? 1000);
  timer.unref();
  return () => clearInterval(timer);
}
