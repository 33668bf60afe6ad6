// The command line of the daemon's `git fetch`: only what moves refs runs on the path from a change
// to moved refs. git's housekeeping after a fetch (auto-maintenance, which may start `git gc
// --auto`; a commit-graph write) is left to the daemon's own maintenance, run when the
// repository's remotes have been quiet (src/maintenance.ts). Everything the user relies on stays
// as a plain `git fetch <remote>` leaves it: which refs and tags move, pruning, refusals
// (non-fast-forward without `+`, transfer.fsckObjects), hooks and reflogs
// (test/workers/fetchargs.test.ts holds the two side by side).
//
// Left out on purpose:
// - `--no-show-forced-updates`: it does not only skip a message. git then takes every update as a
//   fast-forward, so a refspec without `+` accepts a rewritten branch that a plain fetch refuses,
//   and the reflog says "fast-forward" for a forced update. Its check costs one merge-base walk,
//   nothing measurable for the usual one-commit change (bench: the flags' cost, one by one).
// - `--quiet`: git's report of what moved is the log's and status's account of a fetch, and
//   `--progress` what status shows of a long one. Both cost nothing measurable on a small fetch.

export interface FetchArgsOptions {
  remote: string;
  /** Some refspec stores nowhere but FETCH_HEAD: only then is FETCH_HEAD written. */
  writeFetchHead: boolean;
  /** The transport's own arguments before `fetch` (`-c key=value`...). */
  gitArgs?: readonly string[];
}

export function fetchArgs({ remote, writeFetchHead, gitArgs = [] }: FetchArgsOptions): string[] {
  return [
    ...gitArgs,
    // fetch.writeCommitGraph (off unless the user or feature.experimental turned it on) writes the
    // commit-graph after every fetch; gc, which the daemon's maintenance runs, writes it as well
    // (gc.writeCommitGraph).
    '-c',
    'fetch.writeCommitGraph=false',
    'fetch',
    '--progress',
    // Not `git maintenance run --auto` (and the gc it may start) after every fetch: the daemon
    // runs it itself, off the path, once the remotes are quiet. (`--no-auto-gc` is its older
    // name; git 2.39 knows both.)
    '--no-auto-maintenance',
    // A user's `git pull` reads FETCH_HEAD right after its own fetch; ours must not rewrite it.
    ...(writeFetchHead ? [] : ['--no-write-fetch-head']),
    remote,
  ];
}

/**
 * The environment that makes the reflog read as a plain `git fetch <remote>`'s does
 * ("fetch origin: fast-forward"): git would otherwise write its whole command line there, flags
 * and all.
 */
export function fetchEnv(remote: string): Record<string, string> {
  return { GIT_REFLOG_ACTION: `fetch ${remote}` };
}
