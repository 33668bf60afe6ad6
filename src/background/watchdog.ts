// No orphan daemons: a daemon whose repository (or worktree) has been deleted would otherwise run,
// reconnect and log into nowhere for as long as the machine is up. This notices within a moment
// and says what is gone, and also notices when only the daemon's own files went (someone ran
// `rm -rf .git/remote-daemon`), so they can be made again while the repository is still there.
//
// It waits for the kernel to say something happened (inotify, through fs.watch) rather than
// polling: an idle daemon should not wake up every second to stat files that never change. Watched:
//   - the common git dir: `rm -rf` of the repository deletes its HEAD (and the directory itself),
//     a rename of the directory reports itself (IN_MOVE_SELF);
//   - the worktree's top, for its own deletion or rename (a worktree removed by git, `mv`); only
//     events that name the directory itself count, not the user's edits inside it;
//   - the daemon's own directory, for its files deleted or replaced.
// Any such event only prompts a look (a stat or two); the look decides. What no watch can see (a
// parent directory renamed, a network file system changed from another machine) is caught by a
// backstop look once a minute.

import { existsSync, statSync, watch, type FSWatcher } from 'node:fs';
import { basename, join } from 'node:path';

export interface WatchdogOptions {
  /** Where git commands run: the worktree's top (or the git dir of a bare repository). */
  worktree: string;
  /** The repository's common git dir. */
  commonDir: string;
  /** The repository or worktree is gone (`what` says which): the daemon should stop. Called once. */
  gone(what: string): void;
  /** The daemon's own directory (`.git/remote-daemon`): a file deleted there prompts `check`. */
  ownDir?: string;
  /**
   * A look while the repository is there: check the daemon's own files, re-create what is missing.
   * Returns true while something is still missing, to be looked at again `recheckMs` later.
   */
  check?(): boolean | void;
  recheckMs?: number;
  /** A look that no event prompted, for what no watch sees (a parent directory renamed). */
  backstopMs?: number;
}

/** Events this close together prompt one look. */
const EVENT_SETTLE_MS = 100;

interface Watched {
  watcher: FSWatcher;
  ino: number;
  /** The directory itself went (deleted or renamed): its watch hears nothing more. */
  dead: boolean;
}

/** Whether an event naming `name` (null: unnamed) in a directory prompts a look. */
export type Relevant = (name: string | null) => boolean;

/**
 * Which events in which directory prompt a look. Only 'rename' ones are ever heard (an entry came,
 * went or was renamed; libuv also reports the directory's own deletion or move so, under its own
 * name): 'change' is a file written, which never makes anything go. A directory named twice (a
 * bare repository is its own worktree) prompts a look for what either says.
 */
export function watchedDirs(options: Pick<WatchdogOptions, 'worktree' | 'commonDir' | 'ownDir'>): Map<string, Relevant> {
  const worktreeName = basename(options.worktree);
  const commonName = basename(options.commonDir);
  const ownName = options.ownDir ? basename(options.ownDir) : undefined;
  const dirs = new Map<string, Relevant>();
  const add = (dir: string, relevant: Relevant) => {
    const before = dirs.get(dir);
    dirs.set(dir, before ? (name) => before(name) || relevant(name) : relevant);
  };
  add(options.commonDir, (name) => name === null || name === 'HEAD' || name === commonName || name === ownName);
  add(options.worktree, (name) => name === null || name === worktreeName);
  if (options.ownDir) add(options.ownDir, () => true);
  return dirs;
}

/** What is gone, in words (the repository or the worktree); undefined while both are there. */
function whatIsGone(options: WatchdogOptions): string | undefined {
  // HEAD is replaced by a rename, never removed, while git works: its absence means no repository.
  if (!existsSync(join(options.commonDir, 'HEAD'))) return `the repository ${options.commonDir}`;
  if (!existsSync(options.worktree)) return `the worktree ${options.worktree}`;
  return undefined;
}

/** One directory's watch: a relevant event prompts `soon`, and marks it dead when it may name the directory itself. */
function watchDirectory(dir: string, ino: number, relevant: Relevant, soon: () => void): Watched {
  const entry: Watched = {
    ino,
    dead: false,
    watcher: watch(dir, { persistent: false }, (event, name) => {
      const text = name === null ? null : name.toString();
      if (event !== 'rename' || !relevant(text)) return;
      if (text === basename(dir)) entry.dead = true; // possibly the directory itself: watch afresh
      soon();
    }),
  };
  // The watch broke (the directory went, on some file systems): look, which watches afresh.
  entry.watcher.on('error', () => {
    entry.dead = true;
    soon();
  });
  return entry;
}

export function watchRepository(options: WatchdogOptions): () => void {
  let stopped = false;
  let recheck: NodeJS.Timeout | undefined;
  let pending: NodeJS.Timeout | undefined;
  const watched = new Map<string, Watched>();
  const dirs = watchedDirs(options);

  // A burst of events (git renaming a lock over HEAD, our own state file replaced) is one look.
  const soon = () => {
    if (stopped || pending) return;
    pending = setTimeout(() => {
      pending = undefined;
      look();
    }, EVENT_SETTLE_MS);
    pending.unref();
  };

  const stop = () => {
    stopped = true;
    clearTimeout(recheck);
    clearTimeout(pending);
    clearInterval(backstop);
    for (const { watcher } of watched.values()) watcher.close();
    watched.clear();
  };

  const look = () => {
    if (stopped) return;
    const what = whatIsGone(options);
    if (what) {
      stop();
      options.gone(what);
      return;
    }
    if (options.check?.() === true && !recheck) {
      recheck = setTimeout(() => {
        recheck = undefined;
        look();
      }, options.recheckMs ?? 1000);
      recheck.unref();
    }
    rewatch();
  };

  // (Re)starts the watch of each directory that has none, or whose directory went or was replaced
  // (the daemon's directory made again after an `rm -rf`).
  const rewatch = () => {
    for (const [dir, relevant] of dirs) {
      let ino: number;
      try {
        ino = statSync(dir).ino;
      } catch {
        continue; // not there (yet): the next look tries again
      }
      const current = watched.get(dir);
      if (current && !current.dead && current.ino === ino) continue;
      current?.watcher.close();
      watched.delete(dir);
      try {
        watched.set(dir, watchDirectory(dir, ino, relevant, soon));
      } catch {
        // gone between the stat and the watch: the next look tries again
      }
    }
  };

  const backstop = setInterval(look, options.backstopMs ?? 60_000);
  backstop.unref();
  rewatch();
  return stop;
}
