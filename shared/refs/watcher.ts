// Watches a repository's refs with inotify (fs.watch, one watcher per directory under refs/, plus
// the git dir itself for packed-refs) and reports new ref values in batches. Used by the local
// transport inside a worker and by the server-side notifier.
//
// A ref's value is its loose file when there is one, else its packed-refs line. Every event
// re-reads the affected file and compares the resulting value with the last one reported, so
// `git pack-refs`/`git gc` (which moves values from loose files into packed-refs without changing
// them) reports nothing, lock files never count, and a half-written or garbled file is ignored
// until a later event shows a complete value.

import { watch, type FSWatcher, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, sep } from 'node:path';
import { OBJECT_ID, zeroIdLike } from '../kit/objectid.js';

export interface RefWatcherOptions {
  /** The repository's (common) git dir. */
  gitDir: string;
  /** Ref name -> new object id, coalesced; deletions only with `reportDeletions`. */
  onChange(changes: Map<string, string>): void;
  /** Watching failed: the repository vanished or could not be read. */
  onError(err: Error): void;
  /**
   * After a batch goes out, further changes within this many ms are gathered into the next batch.
   * The first change of a quiet period is not delayed by it.
   */
  windowMs?: number;
  /** Report a deleted ref as the all-zero id (the notifier's wire protocol has no deletions). */
  reportDeletions?: boolean;
}


export interface RefWatcher {
  /** Current value of every ref, as last seen. */
  snapshot(): Map<string, string>;
  close(): void;
}

/**
 * 20 ms: long enough that one transaction's ref renames (a push of many branches, a mirror fetch)
 * that straddle the leading-edge flush still arrive as one more line rather than many, short enough
 * to be invisible next to the fetch it triggers (a local fetch costs ~10 ms).
 */
export const DEFAULT_WINDOW_MS = 20;

/**
 * The first change waits this long before going out, so that the other renames of the same ref
 * transaction (git renames every lock file back to back) land in the same batch.
 */
const SETTLE_MS = 2;


export function watchRefs(options: RefWatcherOptions): Promise<RefWatcher> {
  return new Promise((resolve, reject) => {
    try {
      const watcher = new Watcher(options);
      resolve(watcher);
    } catch (err) {
      reject(err);
    }
  });
}

/**
 * Why a watch could not start, when a limit says it: inotify_init1 fails with EMFILE when the
 * user's inotify instances (one per thread that watches) are used up, inotify_add_watch with
 * ENOSPC when the watches are; open(2)'s EMFILE is the process's fd limit. docs/scale.md.
 */
function limitHint(err: NodeJS.ErrnoException | undefined): string {
  if (err?.code === 'EMFILE') return ': EMFILE, too many open files or inotify instances (ulimit -n, fs.inotify.max_user_instances)';
  if (err?.code === 'ENOSPC') return ': ENOSPC, inotify watches used up (fs.inotify.max_user_watches)';
  if (err?.code === 'ENFILE') return ': ENFILE, the system-wide limit of open files (fs.file-max)';
  return '';
}

class Watcher implements RefWatcher {
  private readonly gitDir: string;
  private readonly refsDir: string;
  private readonly windowMs: number;
  /** One watcher per directory: the git dir, refs/ and everything below it. */
  private readonly watchers = new Map<string, FSWatcher>();
  private parentWatcher: FSWatcher | undefined;
  private loose = new Map<string, string>();
  private packed = new Map<string, string>();
  /** Values as last reported (or found at start): the baseline changes are measured against. */
  private reported = new Map<string, string>();
  private pending = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private lastFlush = -Infinity;
  private closed = false;
  /** Why the last watch could not start: a limit (EMFILE, ENOSPC) is worth saying. */
  private watchError: NodeJS.ErrnoException | undefined;

  constructor(private readonly options: RefWatcherOptions) {
    this.gitDir = options.gitDir;
    this.refsDir = join(this.gitDir, 'refs');
    this.windowMs = options.windowMs ?? DEFAULT_WINDOW_MS;
    if (!isDirectory(this.refsDir)) {
      throw new Error(`${this.gitDir} is not a git repository (no refs directory)`);
    }
    // inotify follows inodes, not paths: a repository renamed or unmounted away would go on being
    // "watched" silently. Watching its parent for its own name notices that.
    const refsInode = statSync(this.refsDir).ino;
    const checkStillThere = () => {
      let ino: number | undefined;
      try {
        ino = statSync(this.refsDir).ino;
      } catch {
        // gone
      }
      if (ino !== refsInode) this.fail(new Error(`${this.gitDir} was moved or removed`));
    };
    // Watch first, then read: a change that lands in between is seen by both, never by neither.
    const gitDirWatcher = this.watchDir(this.gitDir, (name) => {
      if (name === 'packed-refs') this.packedChanged();
      else if (name === 'refs') checkStillThere();
    });
    if (!gitDirWatcher) throw new Error(`cannot watch ${this.gitDir}${limitHint(this.watchError)}`);
    this.watchers.set(this.gitDir, gitDirWatcher);
    const parent = dirname(this.gitDir);
    if (parent !== this.gitDir) this.parentWatcher = this.watchDir(parent, (name) => name === basename(this.gitDir) && checkStillThere());
    this.watchRefsDir(this.refsDir, true);
    this.packed = readPackedRefs(this.gitDir);
    for (const [ref, value] of this.effectiveAll()) this.reported.set(ref, value);
  }

  snapshot(): Map<string, string> {
    return new Map(this.effectiveAll());
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
    this.parentWatcher?.close();
  }

  private fail(err: Error): void {
    if (this.closed) return;
    this.close();
    this.options.onError(err);
  }

  /** Starts an inotify watch on `dir`; undefined when it cannot (gone already, or unreadable). */
  private watchDir(dir: string, onName: (name: string, renamed: boolean) => void): FSWatcher | undefined {
    let w: FSWatcher;
    try {
      w = watch(dir, { persistent: true }, (event, name) => {
        if (!this.closed && name !== null) onName(name.toString(), event === 'rename');
      });
    } catch (err) {
      this.watchError = err as NodeJS.ErrnoException;
      return undefined;
    }
    w.on('error', (err) => {
      w.close();
      if (this.watchers.get(dir) === w) this.watchers.delete(dir);
      if (dir === this.gitDir || dir === this.refsDir) this.fail(err);
    });
    return w;
  }

  /**
   * Watches a directory under refs/ and everything below it, reading the refs found there.
   * `renamed`: its entry in the parent was just made, removed or moved. A directory already watched
   * is then watched anew: git prunes empty ref directories and makes them again on the next update,
   * often before the removal is seen, and the old watch is on a dead directory (whose inode the new
   * one may even reuse).
   */
  private watchRefsDir(dir: string, initial: boolean, renamed = false): void {
    if (this.watchers.has(dir) && !renamed) return;
    const stale = this.forgetDir(dir);
    const watcher = this.watchDir(dir, (name, entryRenamed) => this.entryChanged(join(dir, name), false, entryRenamed));
    if (!watcher) {
      if (dir === this.refsDir) throw new Error(`cannot watch ${dir}`);
    } else {
      this.watchers.set(dir, watcher);
      let entries: string[] = [];
      try {
        entries = readdirSync(dir);
      } catch {
        // removed again meanwhile: its own removal event follows
      }
      // A directory that appears later (a push of `topic/x`) holds refs that are news, not baseline.
      for (const name of entries) this.entryChanged(join(dir, name), initial);
    }
    for (const ref of stale) if (!this.loose.has(ref)) this.recheck(ref);
  }

  /**
   * Stops watching `dir` and everything below it and forgets the loose refs it held, without
   * reporting anything; returns those refs so the caller can re-check them once it knows more.
   */
  private forgetDir(dir: string): string[] {
    for (const [path, watcher] of this.watchers) {
      if (path === dir || path.startsWith(dir + sep)) {
        watcher.close();
        this.watchers.delete(path);
      }
    }
    const prefix = `${this.refName(dir)}/`;
    const stale = [...this.loose.keys()].filter((ref) => ref.startsWith(prefix));
    for (const ref of stale) this.loose.delete(ref);
    return stale;
  }

  private entryChanged(path: string, initial = false, renamed = false): void {
    if (path.endsWith('.lock')) return;
    let isDir = false;
    try {
      isDir = statSync(path).isDirectory();
    } catch {
      // gone: a deleted ref, or a directory git pruned after its last ref was deleted
      if (this.watchers.has(path)) for (const ref of this.forgetDir(path)) this.recheck(ref);
      else this.setLoose(this.refName(path), undefined, initial);
      return;
    }
    if (isDir) {
      this.watchRefsDir(path, initial, renamed);
      return;
    }
    const value = readRefFile(path);
    if (value === undefined) return; // half-written, symbolic or garbage: wait for the next event
    this.setLoose(this.refName(path), value, initial);
  }

  private refName(path: string): string {
    return path.slice(this.gitDir.length + 1).split(sep).join('/');
  }

  private setLoose(ref: string, value: string | undefined, initial: boolean): void {
    if (value === undefined) this.loose.delete(ref);
    else this.loose.set(ref, value);
    if (!initial) this.recheck(ref);
    else if (value !== undefined) this.reported.set(ref, value);
  }

  private packedChanged(): void {
    const before = this.packed;
    this.packed = readPackedRefs(this.gitDir);
    for (const ref of new Set([...before.keys(), ...this.packed.keys()])) this.recheck(ref);
  }

  private effective(ref: string): string | undefined {
    return this.loose.get(ref) ?? this.packed.get(ref);
  }

  private *effectiveAll(): Iterable<[string, string]> {
    for (const [ref, value] of this.packed) if (!this.loose.has(ref)) yield [ref, value];
    yield* this.loose;
  }

  private recheck(ref: string): void {
    const value = this.effective(ref);
    if (value === undefined) {
      const last = this.reported.get(ref);
      this.reported.delete(ref); // forgotten, so that a re-creation is news
      this.pending.delete(ref);
      if (last !== undefined && this.options.reportDeletions) {
        this.pending.set(ref, zeroIdLike(last));
        this.schedule();
      }
      return;
    }
    if (this.reported.get(ref) === value) {
      this.pending.delete(ref);
      return;
    }
    this.pending.set(ref, value);
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.pending.size === 0) return;
    const wait = Math.max(SETTLE_MS, this.lastFlush + this.windowMs - Date.now());
    this.timer = setTimeout(() => this.flush(), wait);
  }

  private flush(): void {
    this.timer = undefined;
    if (this.closed || this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    for (const [ref, value] of batch) this.reported.set(ref, value);
    this.lastFlush = Date.now();
    this.options.onChange(batch);
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function readRefFile(path: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  if (!text.endsWith('\n')) return undefined; // git always ends a ref with a newline
  const value = text.slice(0, -1);
  return OBJECT_ID.test(value) ? value : undefined;
}

/** Parses packed-refs; peeled lines (`^sha`) and the header are skipped. */
export function readPackedRefs(gitDir: string): Map<string, string> {
  const refs = new Map<string, string>();
  let text: string;
  try {
    text = readFileSync(join(gitDir, 'packed-refs'), 'utf8');
  } catch {
    return refs;
  }
  for (const line of text.split('\n')) {
    const space = line.indexOf(' ');
    if (space < 0 || line.startsWith('#') || line.startsWith('^')) continue;
    const value = line.slice(0, space);
    if (OBJECT_ID.test(value)) refs.set(line.slice(space + 1), value);
  }
  return refs;
}
