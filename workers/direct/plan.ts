// Which fetches the direct path may carry out itself, and what one moves: pure, from the
// repository's config, a few facts about it on disk, the remote's ref list and the local refs.
//
// The direct path (fetch.ts) does what `git fetch <remote>` does for the usual change, a branch
// that moved forward or appeared, without the `git fetch` process and its ssh helper. Everything
// else is git's: whenever some rule of git fetch could come into play that this does not carry out
// (a tag to follow, a ref to prune, a rewritten branch, submodules, a shallow or partial clone, fsck
// settings...), the plan says `fallback` with the reason and the daemon runs `git fetch` as always.
// So the direct path never decides anything git would decide differently: it only moves refs
// forward, each from the value it read to the one the remote has, after git itself has checked the
// objects (unpack-objects, git fetch's connectivity check) and that the move is a fast-forward.

import { isDeleted } from '../../shared/kit/objectid.js';
import { last, parseBool, type GitConfig } from '../../shared/gitconfig.js';
import { matchPattern, parseRefspec } from '../../shared/refs/refspec.js';
import type { RefMap } from '../../shared/transport.js';

/** What `git fetch` would also look at, read off the repository's files (fetch.ts). */
export interface RepoFacts {
  /** `shallow` in the git dir: git fetch keeps the shallow boundary. */
  shallow: boolean;
  /** `objects/info/alternates`: git's connectivity check then also counts the alternates' refs. */
  alternates: boolean;
  /** A `.gitmodules` or `modules/`: git fetch may recurse into submodules. */
  submodules: boolean;
}

/** A refspec of the plain shape the direct path carries out: a branch (pattern) into remote-tracking refs. */
export interface SimpleRefspec {
  src: string;
  dst: string;
  /** A leading `+`: git would also take a rewrite (the direct path leaves every rewrite to git). */
  force: boolean;
}

/** The settings of one remote's fetch, once it is known the direct path may carry it out. */
export interface DirectSetup {
  refspecs: SimpleRefspec[];
  /** git fetch's default: tags pointing into what it fetches come along. */
  followTags: boolean;
  prune: boolean;
  /** fetch.fsckObjects, else transfer.fsckObjects: unpack with --strict. */
  fsck: boolean;
  /** fetch.unpackLimit, else transfer.unpackLimit (git's default 100): a pack this big is git fetch's. */
  unpackLimit: number;
}

export interface Fallback {
  fallback: string;
}

const DEFAULT_UNPACK_LIMIT = 100;

/**
 * The direct path's settings for `remote`, from the config alone (the transport's plugin reads them
 * with the rest of the remote's settings, so a change reaches the remote on reload), or why `git
 * fetch` must do its fetches.
 */
export function directSettings(remote: string, config: GitConfig, forced: { fsck?: boolean } = {}): DirectSetup | Fallback {
  const own = (key: string) => last(config, `remote.${remote}.${key}`);
  const bool = (value: string | undefined) => (value === undefined ? undefined : parseBool(value));
  if (own('uploadpack') !== undefined) return { fallback: `remote.${remote}.uploadpack is set` };
  if (bool(own('promisor')) || own('partialclonefilter') !== undefined || last(config, 'extensions.partialclone') !== undefined) {
    return { fallback: 'a partial clone' };
  }
  const format = last(config, 'extensions.objectformat');
  if (format !== undefined && format.toLowerCase() !== 'sha1') return { fallback: `object format ${format}` };
  // The direct path reads the local refs from their files (store.ts).
  const refStorage = last(config, 'extensions.refstorage');
  if (refStorage !== undefined && refStorage.toLowerCase() !== 'files') return { fallback: `ref storage ${refStorage}` };
  const protocol = last(config, 'protocol.version');
  if (protocol === '0' || protocol === '1') return { fallback: `protocol.version is ${protocol}` };
  const tagOpt = own('tagopt');
  if (tagOpt === '--tags') return { fallback: `remote.${remote}.tagOpt is --tags` };
  // pruneTags (even without prune, even with --no-tags) makes git fetch add refs/tags/*:refs/tags/*
  // to the remote's refspecs (builtin/fetch.c, fetch_one): every tag comes, a moved one is refused.
  if (bool(own('prunetags') ?? last(config, 'fetch.prunetags'))) return { fallback: 'pruneTags is on' };

  const raw = config.get(`remote.${remote}.fetch`) ?? [];
  if (raw.length === 0) return { fallback: 'no fetch refspec' };
  const refspecs: SimpleRefspec[] = [];
  for (const text of raw) {
    const spec = parseRefspec(text);
    if (!spec || spec.negative || spec.dst === undefined || !spec.src.startsWith('refs/heads/') || !spec.dst.startsWith('refs/remotes/')) {
      return { fallback: `the refspec ${JSON.stringify(text)} is not a branch into refs/remotes/` };
    }
    refspecs.push({ src: spec.src, dst: spec.dst, force: text.trim().startsWith('+') });
  }

  const fsck = forced.fsck ?? bool(last(config, 'fetch.fsckobjects') ?? last(config, 'transfer.fsckobjects')) ?? false;
  // git fetch hands fetch.fsck.* to its unpacker; what fsck.* would change is not worth knowing here.
  if (fsck && [...config.keys()].some((key) => (key.startsWith('fetch.fsck.') || key.startsWith('fsck.')))) {
    return { fallback: 'fsck settings' };
  }
  const prune = bool(own('prune') ?? last(config, 'fetch.prune')) ?? false;
  const limitText = last(config, 'fetch.unpacklimit') ?? last(config, 'transfer.unpacklimit');
  if (limitText !== undefined && !/^\d{1,9}$/.test(limitText)) return { fallback: `unpack limit ${JSON.stringify(limitText)}` };
  const unpackLimit = limitText !== undefined ? Number(limitText) : DEFAULT_UNPACK_LIMIT;
  return { refspecs, followTags: tagOpt !== '--no-tags', prune, fsck, unpackLimit };
}

/** Why this repository's fetches are git fetch's whatever the config says, if they are. */
export function repoFallback(facts: RepoFacts, writeFetchHead: boolean): Fallback | undefined {
  if (writeFetchHead) return { fallback: 'a refspec stores into FETCH_HEAD' };
  if (facts.shallow) return { fallback: 'a shallow repository' };
  if (facts.alternates) return { fallback: 'the repository borrows objects (alternates)' };
  if (facts.submodules) return { fallback: 'the repository has submodules' };
  return undefined;
}

/** Both: the settings of one fetch of `remote` in a repository, or why git fetch must do it. */
export function directSetup(remote: string, config: GitConfig, facts: RepoFacts, writeFetchHead: boolean): DirectSetup | Fallback {
  return repoFallback(facts, writeFetchHead) ?? directSettings(remote, config);
}

/** The ref prefixes to ask the remote for: the refspecs' sources, and tags when they are followed. */
export function refPrefixesOf(setup: DirectSetup): string[] {
  const prefixes = new Set(setup.refspecs.map((s) => (s.src.includes('*') ? s.src.slice(0, s.src.indexOf('*')) : s.src)));
  if (setup.followTags) prefixes.add('refs/tags/');
  return [...prefixes];
}

/** The local side: the refs the refspecs write, and the tags there are. */
export interface LocalRefs {
  /** Destination ref -> value (symbolic refs left out). */
  tracking: RefMap;
  tags: Set<string>;
}

export interface RefMove {
  /** The remote's ref. */
  src: string;
  /** Ours. */
  dst: string;
  /** Undefined: a new ref. */
  old?: string;
  new: string;
}

export type Plan =
  | Fallback
  | { upToDate: true }
  | { moves: RefMove[]; wants: string[]; haves: string[] };

/**
 * The ref names and ids the direct path handles (store.sh reads them as whitespace-separated
 * words): nothing that could be read two ways. Any other name, however git judges it, is git
 * fetch's to take or refuse.
 */
const SAFE_REF = /^refs\/(?!.*\.\.)(?!.*\/\.)(?!.*\.lock(?:\/|$))[A-Za-z0-9._@+\/-]+(?<![./])$/;
const SHA1 = /^[0-9a-f]{40}$/;

/** How many `have` lines a request carries at most: enough to find the common history of a few branches. */
const MAX_HAVES = 256;

/** Where the remote's refs land, which of ours move, and what to ask for; or why git fetch must do it. */
export function planFetch(setup: DirectSetup, remoteRefs: RefMap, local: LocalRefs): Plan {
  const landing = new Map<string, { src: string; sha: string }>();
  for (const [src, sha] of remoteRefs) {
    if (isDeleted(sha)) return { fallback: `the remote lists ${src} without a value` };
    for (const spec of setup.refspecs) {
      const star = matchPattern(spec.src, src);
      if (star === null) continue;
      const dst = spec.src.includes('*') ? spec.dst.replace('*', star) : spec.dst;
      const taken = landing.get(dst);
      if (taken && taken.src !== src) return { fallback: `both ${taken.src} and ${src} would land in ${dst}` };
      landing.set(dst, { src, sha });
    }
  }
  if (setup.prune) {
    for (const dst of local.tracking.keys()) if (!landing.has(dst) && isDestination(setup, dst)) return { fallback: `${dst} is to be pruned` };
  }
  for (const ref of remoteRefs.keys()) {
    if (ref.startsWith('refs/tags/') && setup.followTags && !local.tags.has(ref)) return { fallback: `the remote has tag ${ref}, which is not here` };
  }
  const moves: RefMove[] = [];
  for (const [dst, { src, sha }] of landing) {
    if (!SAFE_REF.test(src) || !SAFE_REF.test(dst) || !SHA1.test(sha)) return { fallback: `${JSON.stringify(src)} is a name git fetch should judge` };
    const old = local.tracking.get(dst);
    if (old !== sha) moves.push({ src, dst, ...(old !== undefined && { old }), new: sha });
  }
  if (moves.length === 0) return { upToDate: true };
  moves.sort((a, b) => (a.dst < b.dst ? -1 : a.dst > b.dst ? 1 : 0));
  const wants = [...new Set(moves.map((m) => m.new))];
  const haves = [...new Set(local.tracking.values())].slice(0, MAX_HAVES);
  return { moves, wants, haves };
}

/** True when some refspec of `setup` stores into `ref`. */
export function isDestination(setup: DirectSetup, ref: string): boolean {
  return setup.refspecs.some((spec) => matchPattern(spec.dst, ref) !== null);
}
