// Named files watched through the directories that hold them. git replaces a config file by
// renaming `config.lock` over it, so a watch on the file itself would lose track after the first
// edit; a directory's watch sees every rename into it. A burst of changes to any of the files is
// one `onChange`, once the burst has been quiet for `debounceMs`. Used for a repository's config
// (configwatch.ts) and for the global config the shared daemon reads its set from (hub/hub.ts).

import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

export interface FilesWatchOptions {
  onChange(): void;
  debounceMs: number;
  /** Told of each directory watched from now on, and of one that cannot be (other than missing). */
  log?(text: string): void;
}

export class FilesWatch {
  private readonly watchers = new Map<string, { watcher: FSWatcher; names: Set<string> }>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: FilesWatchOptions) {}

  /** From now on, exactly these files. A directory that does not exist yet is tried at the next call. */
  set(files: Iterable<string>): void {
    if (this.closed) return;
    const wanted = new Map<string, Set<string>>();
    for (const file of files) {
      const names = wanted.get(dirname(file)) ?? new Set<string>();
      names.add(basename(file));
      wanted.set(dirname(file), names);
    }
    for (const [dir, entry] of this.watchers) {
      if (wanted.has(dir)) continue;
      entry.watcher.close();
      this.watchers.delete(dir);
    }
    for (const [dir, names] of wanted) {
      const existing = this.watchers.get(dir);
      if (existing) existing.names = names;
      else this.watchDir(dir, names);
    }
  }

  private watchDir(dir: string, names: Set<string>): void {
    try {
      const entry = { names, watcher: watch(dir, { persistent: false }, (_event, name) => this.event(dir, name)) };
      entry.watcher.on('error', () => {
        entry.watcher.close();
        this.watchers.delete(dir);
      });
      this.watchers.set(dir, entry);
      this.options.log?.(`watching ${dir} for config changes`);
    } catch (err) {
      // A directory that does not exist yet (~/.config/git, say) holds no config.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.options.log?.(`cannot watch ${dir} for config changes: ${(err as Error).message}`);
    }
  }

  private event(dir: string, name: string | Buffer | null): void {
    const entry = this.watchers.get(dir);
    if (this.closed || !entry) return;
    // Without a name (some file systems) anything in the directory may be one of ours.
    if (name !== null && !entry.names.has(name.toString())) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.closed) this.options.onChange();
    }, this.options.debounceMs);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    for (const { watcher } of this.watchers.values()) watcher.close();
    this.watchers.clear();
  }
}
