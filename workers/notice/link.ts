// A remote's side of change notices, inside its worker. It does two things, whatever the remote's
// transport: when this repository's tracking refs for the remote move (our fetch brought a change,
// or the user pushed, which moves them too), it tells every notice carrier; when a carrier hears
// that the remote moved elsewhere, or came back after being away, it nudges the session, which
// lists the remote's refs through its own connection and fetches if needed.

import { readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { MessagePort } from 'node:worker_threads';
import { parseRefspec, type Refspec } from '../../shared/refs/refspec.js';
import { watchRefs, type RefWatcher } from '../../shared/refs/watcher.js';
import type { RemoteSpec, RepoInfo } from '../../shared/workerapi.js';

/** A remote's worker to a carrier: its tracking refs moved; names are the remote's, not ours. */
export type ToCarrier = { type: 'moved'; refs: [string, string][] };
/** A carrier to a remote's worker: look at the remote now. */
export type FromCarrier = { type: 'nudge'; why: string };

export interface NoticeLinkOptions {
  spec: RemoteSpec;
  repo: RepoInfo;
  /** List the remote's refs and fetch if they differ (the session's nudge). */
  nudge(why: string): void;
  log(text: string): void;
}

export class NoticeLinks {
  private readonly ports = new Map<string, MessagePort>();
  private readonly sources: Refspec[];
  private watcher: Promise<RefWatcher | undefined> | undefined;
  private closed = false;

  constructor(private readonly options: NoticeLinkOptions, initial: { carrier: string; port: MessagePort }[] = []) {
    this.sources = options.spec.fetchRefspecs.map(parseRefspec).filter((s): s is Refspec => !!s && !s.negative && s.dst !== undefined);
    for (const { carrier, port } of initial) this.link(carrier, port);
  }

  /** A carrier's link, new or replacing the one its previous run had. */
  link(carrier: string, port: MessagePort): void {
    if (this.closed) return void port.close();
    this.ports.get(carrier)?.close();
    this.ports.set(carrier, port);
    port.on('message', (message: FromCarrier) => {
      if (message?.type === 'nudge') this.options.nudge(`${carrier}: ${String(message.why).slice(0, 200)}`);
    });
    // Watching costs an inotify watch per refs directory: only once someone would be told.
    this.watcher ??= this.watch();
  }

  /** The config no longer asks for that carrier: its link is closed and forgotten. */
  unlink(carrier: string): void {
    this.ports.get(carrier)?.close();
    this.ports.delete(carrier);
  }

  close(): void {
    this.closed = true;
    for (const port of this.ports.values()) port.close();
    this.ports.clear();
    void this.watcher?.then((w) => w?.close());
  }

  private async watch(): Promise<RefWatcher | undefined> {
    try {
      const watcher = await watchRefs({
        gitDir: commonDir(this.options.repo.gitDir),
        // A branch deleted on the remote (our push of a deletion, or a pruning fetch) is news too:
        // the zero id tells other devices to look, and their fetch prunes if they prune.
        reportDeletions: true,
        onChange: (changes) => this.moved(changes),
        onError: (err) => this.options.log(`notices: cannot watch this repository's refs any more: ${err.message}`),
      });
      if (this.closed) watcher.close();
      return watcher;
    } catch (err) {
      this.options.log(`notices: cannot watch this repository's refs: ${(err as Error).message}`);
      return undefined;
    }
  }

  private moved(changes: Map<string, string>): void {
    const refs: [string, string][] = [];
    for (const [local, sha] of changes) {
      const remote = this.remoteRefFor(local);
      if (remote) refs.push([remote, sha]);
    }
    if (refs.length === 0) return;
    this.options.log(`notices: tracking refs moved: ${refs.map(([ref, sha]) => `${ref} ${sha.slice(0, 12)}`).join(', ')}`);
    const message: ToCarrier = { type: 'moved', refs };
    for (const port of this.ports.values()) {
      try {
        port.postMessage(message);
      } catch {
        // that carrier is restarting; its new link comes with a catch-up of its own
      }
    }
  }

  /** The remote ref a tracking ref mirrors, by the fetch refspecs read backwards. */
  private remoteRefFor(local: string): string | undefined {
    for (const { src, dst } of this.sources) {
      const star = dst!.indexOf('*');
      if (star < 0) {
        if (dst === local && !src.includes('*')) return fullName(src);
        continue;
      }
      const prefix = dst!.slice(0, star);
      const suffix = dst!.slice(star + 1);
      if (local.length < prefix.length + suffix.length || !local.startsWith(prefix) || !local.endsWith(suffix)) continue;
      return src.replace('*', local.slice(prefix.length, local.length - suffix.length));
    }
    return undefined;
  }
}

/**
 * A refspec's short source as git matches it against the remote's refs: `heads/x`, `tags/x` and
 * `remotes/x` by the `refs/%s` rule, HEAD as itself, any other name taken for a branch (git would
 * prefer a tag of that name if the remote had one; we cannot know).
 */
function fullName(src: string): string {
  if (src.startsWith('refs/') || src === 'HEAD') return src;
  return /^(heads|tags|remotes)\//.test(src) ? `refs/${src}` : `refs/heads/${src}`;
}

/** Refs of a linked worktree live in the common dir. */
function commonDir(gitDir: string): string {
  try {
    const common = readFileSync(join(gitDir, 'commondir'), 'utf8').trim();
    return isAbsolute(common) ? common : resolve(gitDir, common);
  } catch {
    return gitDir;
  }
}
