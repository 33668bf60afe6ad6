// The local transport: a remote that is a path on this machine (a bare repository on the same
// disk, a USB drive, NFS). "Connected" means its refs are being watched with inotify.

import { findGitDir } from '../../shared/kit/gitdir.js';
import { localPath } from '../../shared/gitconfig.js';
import { watchRefs } from '../../shared/refs/watcher.js';
import type { TransportContext } from '../../shared/plugin.js';
import type { Connection, RefMap, Transport, TransportEvents } from '../../shared/transport.js';
import { run } from '../children.js';

export function create({ spec, repo }: TransportContext): Transport {
  const path = localPath(spec.url, repo);
  return {
    async connect(events: TransportEvents, signal: AbortSignal): Promise<Connection> {
      const gitDir = findGitDir(path);
      signal.throwIfAborted();
      let settle!: { resolve(): void; reject(err: Error): void };
      const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
      const watcher = await watchRefs({
        gitDir,
        reportDeletions: spec.prune,
        onChange: (refs) => events.changed({ kind: 'refs', refs }),
        onError: (err) => settle.reject(new Error(`lost ${path}: ${err.message}`)),
      });
      events.watching('inotify on its refs');
      return {
        done,
        listRefs: () => listRefs(gitDir),
        fetchPlan: async () => ({}),
        async close() {
          watcher.close();
          settle.resolve();
        },
      };
    },
  };
}

async function listRefs(gitDir: string): Promise<RefMap> {
  const { stdout } = await run('git', ['--git-dir', gitDir, 'for-each-ref', '--format=%(objectname) %(refname)']);
  const refs: RefMap = new Map();
  for (const line of stdout.split('\n')) {
    const space = line.indexOf(' ');
    if (space > 0) refs.set(line.slice(space + 1), line.slice(0, space));
  }
  return refs;
}
