// Decides whether a change on the remote needs a fetch here: only when it would bring something
// new into the refs that `remote.<name>.fetch` names. The local tracking refs are read fresh each
// time (through the worker's long-lived cat-file, or one `git for-each-ref` when only object ids
// are known), so a push made from this repository, which already moved them, costs no fetch.

import { FetchRefspecs } from '../src/refs/refspec.js';
import type { RemoteChange, RefMap } from './transport.js';
import type { ObjectChecker } from './objects.js';
import { run } from './children.js';

export class TrackingRefs {
  private readonly refspecs: FetchRefspecs;

  constructor(fetchRefspecs: string[], private readonly cwd: string, private readonly objects: ObjectChecker) {
    this.refspecs = new FetchRefspecs(fetchRefspecs);
  }

  /** The local refs a fetch from this remote writes, with their values. */
  async read(): Promise<RefMap> {
    const prefixes = this.refspecs.destinationPrefixes();
    const refs: RefMap = new Map();
    if (prefixes.length === 0) return refs;
    const { stdout } = await run('git', ['for-each-ref', '--format=%(objectname) %(refname)', ...prefixes], { cwd: this.cwd });
    for (const line of stdout.split('\n')) {
      const space = line.indexOf(' ');
      if (space > 0) refs.set(line.slice(space + 1), line.slice(0, space));
    }
    return refs;
  }

  /** True when fetching would change something here. */
  async needsFetch(change: RemoteChange): Promise<boolean> {
    if (change.kind === 'shas') {
      // Only new values are known, not which refs moved: a value that is not already the tip of
      // one of this remote's tracking refs is news (this also catches a branch moved to a commit
      // we have through another branch).
      const tips = new Set((await this.read()).values());
      return change.shas.some((sha) => !tips.has(sha));
    }
    const answers = [...change.refs].map(([ref, sha]) => {
      const dst = this.refspecs.destination(ref);
      if (dst === undefined) return false; // outside the fetch refspecs
      if (dst === null) return this.objects.has(sha).then((have) => !have);
      return this.objects.resolve(dst).then((local) => local !== sha);
    });
    return (await Promise.all(answers)).some(Boolean);
  }
}
