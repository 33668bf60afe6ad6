// Decides whether a change on the remote needs a fetch here: only when it would bring something
// new into the refs that `remote.<name>.fetch` names. The local tracking refs are read fresh each
// time through the worker's long-lived cat-file, so a push made from this repository, which
// already moved them, costs no fetch.

import { isDeleted } from '../shared/kit/objectid.js';
import { FetchRefspecs } from '../shared/refs/refspec.js';
import type { RefMap } from '../shared/transport.js';
import type { ObjectChecker } from './objects.js';
import { run } from './children.js';


export class TrackingRefs {
  private readonly refspecs: FetchRefspecs;

  constructor(
    fetchRefspecs: string[],
    private readonly cwd: string,
    private readonly objects: ObjectChecker,
    /** `git fetch` also brings tags (its default): a new or moved tag is worth a fetch. */
    private readonly followTags = false,
    /** `git fetch` prunes: a ref deleted on the remote is worth a fetch. */
    private readonly prune = false,
  ) {
    this.refspecs = new FetchRefspecs(fetchRefspecs);
  }

  /** True when some refspec stores nowhere but FETCH_HEAD, so the fetch must write it. */
  writesFetchHeadOnly(): boolean {
    return this.refspecs.hasNoDestination();
  }

  /** The local refs a fetch from this remote writes, with their values (symbolic refs left out). */
  async read(): Promise<RefMap> {
    const prefixes = this.refspecs.destinationPrefixes();
    const refs: RefMap = new Map();
    if (prefixes.length === 0) return refs;
    const { stdout } = await run('git', ['for-each-ref', '--format=%(objectname) %(symref) %(refname)', ...prefixes], { cwd: this.cwd });
    for (const line of stdout.split('\n')) {
      const [sha, symref, ref] = line.split(' ');
      // A prefix can be wider than the refspec (`refs/remotes/o/pr-*` reads `refs/remotes/o/`).
      if (ref && !symref && this.refspecs.isDestination(ref)) refs.set(ref, sha);
    }
    return refs;
  }

  /** True when any of these objects is not in this repository. */
  async anyMissing(shas: string[]): Promise<boolean> {
    return (await Promise.all(shas.map((sha) => this.objects.has(sha)))).some((have) => !have);
  }

  /**
   * True when fetching `refs` (remote ref -> new value; all zeros for a deleted ref) would change
   * something here.
   */
  async needsFetch(refs: RefMap): Promise<boolean> {
    const answers = [...refs].map(([ref, sha]) => {
      const dst = this.localRefFor(ref);
      if (dst === undefined) return false; // outside the fetch refspecs
      if (isDeleted(sha)) {
        // Deleted there: only a pruning fetch would delete it here (tags are never pruned).
        if (!this.prune || dst === null || ref.startsWith('refs/tags/')) return false;
        return this.objects.resolve(dst).then((local) => local !== undefined);
      }
      if (dst === null) return this.objects.has(sha).then((have) => !have);
      return this.objects.resolve(dst).then((local) => local !== sha);
    });
    return (await Promise.all(answers)).some(Boolean);
  }

  /**
   * The catch-up's question, given all of the remote's refs: does anything differ, including (when
   * fetches prune) a tracking ref whose remote ref is gone?
   */
  async differs(remoteRefs: RefMap): Promise<boolean> {
    if (await this.needsFetch(remoteRefs)) return true;
    if (!this.prune) return false;
    const wanted = new Set([...remoteRefs.keys()].map((ref) => this.refspecs.destination(ref)));
    return [...(await this.read()).keys()].some((local) => !wanted.has(local));
  }

  /** Where a fetch stores remote ref `ref`: a local ref, null for FETCH_HEAD only, undefined for not at all. */
  private localRefFor(ref: string): string | null | undefined {
    const dst = this.refspecs.destination(ref);
    if (dst === undefined && this.followTags && ref.startsWith('refs/tags/')) return ref;
    return dst;
  }
}
