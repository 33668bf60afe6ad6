// Decides whether a change on the remote needs a fetch here: only when it would bring something
// new into the refs that `remote.<name>.fetch` names. The local tracking refs are read fresh each
// time through the worker's long-lived cat-file, so a push made from this repository, which
// already moved them, costs no fetch.

import { FetchRefspecs } from '../src/refs/refspec.js';
import type { RefMap } from './transport.js';
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

  /** True when fetching `refs` (remote ref -> new value) would change something here. */
  async needsFetch(refs: RefMap): Promise<boolean> {
    const answers = [...refs].map(([ref, sha]) => {
      let dst = this.refspecs.destination(ref);
      if (dst === undefined && this.followTags && ref.startsWith('refs/tags/')) dst = ref;
      if (dst === undefined) return false; // outside the fetch refspecs
      if (dst === null) return this.objects.has(sha).then((have) => !have);
      return this.objects.resolve(dst).then((local) => local !== sha);
    });
    return (await Promise.all(answers)).some(Boolean);
  }
}
