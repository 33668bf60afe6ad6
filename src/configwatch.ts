// Notices edits to the git config the daemon reads (`git remote add`, `git config ...`, an editor)
// and asks for a reload, watching the files through their directories (fileswatch.ts). The files are the ones git reports reading
// (`git config --list --show-origin`: the repository's config, includes, the global config), plus
// the files that may not exist yet but would be read once they do: the repository's config and
// config.worktree, and the global config (~/.gitconfig and $XDG_CONFIG_HOME/git/config, or
// $GIT_CONFIG_GLOBAL), so a first `git config --global url.<x>.insteadOf ...` is noticed too.

import spawn from 'nano-spawn';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { FilesWatch } from './fileswatch.js';
import type { RepoInfo } from '../shared/workerapi.js';

export const CONFIG_DEBOUNCE_MS = 300;

export interface ConfigWatcherOptions {
  repo: RepoInfo;
  /** The common git dir (holds `config`). */
  commonDir: string;
  /** Called once per burst of changes, after the burst has been quiet for `debounceMs`. */
  onChange(): void;
  log(text: string): void;
  debounceMs?: number;
  /**
   * The global config files are watched elsewhere, once for every repository of the process (the
   * shared daemon), which reloads them all when a setting there changes: skip them here, so that
   * `register` (which writes the global config) does not make every repository reload.
   */
  skipGlobal?: boolean;
}

export class ConfigWatcher {
  private readonly files: FilesWatch;
  private closed = false;

  constructor(private readonly options: ConfigWatcherOptions) {
    this.files = new FilesWatch({ onChange: () => options.onChange(), debounceMs: options.debounceMs ?? CONFIG_DEBOUNCE_MS, log: options.log });
  }

  /**
   * (Re)computes which files to watch: call at start and after each reload (includes may change).
   * A directory that does not exist yet is tried again then (an edit elsewhere, RELOAD, SIGHUP).
   */
  async refresh(): Promise<void> {
    const files = new Set<string>([join(this.options.commonDir, 'config'), join(this.options.repo.gitDir, 'config.worktree'), ...globalConfigFiles()]);
    for (const file of await this.configFiles()) files.add(file);
    if (this.closed) return;
    if (this.options.skipGlobal) for (const file of globalConfigFiles()) files.delete(file);
    this.files.set(files);
  }

  private async configFiles(): Promise<string[]> {
    try {
      const { stdout } = await spawn('git', ['config', '--list', '--show-origin', '-z'], { cwd: this.options.repo.cwd });
      // Entries alternate: origin NUL key\nvalue NUL ...
      const parts = stdout.split('\0');
      const files: string[] = [];
      for (let i = 0; i + 1 < parts.length; i += 2) {
        if (!parts[i].startsWith('file:')) continue;
        const origin = resolve(this.options.repo.cwd, parts[i].slice('file:'.length));
        files.push(origin);
        // An included file that is still empty gives no entries of its own: watch it by name.
        const newline = parts[i + 1].indexOf('\n');
        const key = parts[i + 1].slice(0, newline < 0 ? undefined : newline);
        if (newline >= 0 && /^include(if\..*)?\.path$/s.test(key)) files.push(includePath(origin, parts[i + 1].slice(newline + 1)));
      }
      return files;
    } catch {
      return []; // a broken config: the reload reports it; keep watching the repository's own file
    }
  }

  close(): void {
    this.closed = true;
    this.files.close();
  }
}

/** The global config files git reads, whether or not they exist yet (git's own rules). */
export function globalConfigFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.GIT_CONFIG_GLOBAL !== undefined) {
    return env.GIT_CONFIG_GLOBAL === '' || env.GIT_CONFIG_GLOBAL === '/dev/null' ? [] : [resolve(env.GIT_CONFIG_GLOBAL)];
  }
  const home = env.HOME || homedir();
  const xdg = env.XDG_CONFIG_HOME || join(home, '.config');
  return [join(xdg, 'git', 'config'), join(home, '.gitconfig')];
}

/** Where git looks for an included file: `~/` is the home directory, a relative path is relative to the including file. */
function includePath(includingFile: string, value: string): string {
  if (value.startsWith('~/')) return join(homedir(), value.slice(2));
  return resolve(dirname(includingFile), value);
}
