// Decides whether a change on the remote needs a fetch here: only when it would bring something
// new into the refs that `remote.<name>.fetch` names. The local tracking refs are read fresh each
// time (one `git for-each-ref`), so a push made from this repository, which already moved them,
// costs no fetch.

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
    const local = await this.read();
    if (change.kind === 'shas') {
      // Only new values are known, not which refs moved: a value that is not already the tip of
      // one of this remote's tracking refs is news (this also catches a branch moved to a commit
      // we have through another branch).
      const tips = new Set(local.values());
      return change.shas.some((sha) => !tips.has(sha));
    }
    for (const [ref, sha] of change.refs) {
      const dst = this.refspecs.destination(ref);
      if (dst === undefined) continue; // outside the fetch refspecs
      if (dst === null ? !(await this.objects.has(sha)) : local.get(dst) !== sha) return true;
    }
    return false;
  }
}
