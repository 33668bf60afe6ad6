// What a fetch changed, read from git's own report on stderr (the lines `git fetch` prints for
// each ref it updated), so status and the log can say "main: 3 new commits" at no extra cost.

import { run } from './children.js';

export interface MovedRef {
  /** The remote's name for the ref (`main`, `v1.0`). */
  ref: string;
  /** Where it landed here (`origin/main`). */
  local: string;
  /** `a1b2c3d..e4f5a6b` / `a1b2c3d...e4f5a6b` (forced), or git's word in brackets: new branch, new tag, deleted. */
  change: string;
  /** Commits the update brought, for a fast-forward (counted with rev-list). */
  commits?: number;
}

// ` * [new branch]      feature    -> origin/feature`, `   2ce7d75..dbb76cb  main  -> origin/main`,
// ` + 1a2b3c4...5d6e7f8 topic -> origin/topic  (forced update)`, ` - [deleted] (none) -> origin/gone`
const LINE = /^ [ +*!t=-] (\[[^\]]+\]|[0-9a-f]+\.{2,3}[0-9a-f]+)\s+(\S+)\s+-> (\S+)/;

/** Refs at most this many get their commits counted (one rev-list each). */
const COUNTED = 5;

export function parseFetchReport(stderr: string): MovedRef[] {
  const moved: MovedRef[] = [];
  for (const line of stderr.split('\n')) {
    const m = LINE.exec(line);
    if (m) moved.push({ change: m[1]!.replace(/^\[|\]$/g, ''), ref: m[2]!, local: m[3]! });
  }
  return moved;
}

/** Adds commit counts to the first few fast-forwards; a count that fails is left out. */
export async function countCommits(cwd: string, moved: MovedRef[]): Promise<MovedRef[]> {
  await Promise.all(
    moved.slice(0, COUNTED).map(async (m) => {
      if (!/^[0-9a-f]+\.\.[0-9a-f]+$/.test(m.change)) return;
      try {
        m.commits = Number((await run('git', ['rev-list', '--count', m.change], { cwd })).stdout.trim());
      } catch {
        // gone already (a prune), or not ours to count: status just shows the range
      }
    }),
  );
  return moved;
}

/** `main: 3 new commits; feature: new branch; 2 more` */
export function describeMoved(moved: MovedRef[], limit = 3): string {
  const parts = moved.slice(0, limit).map((m) => `${m.ref}: ${m.commits !== undefined ? `${m.commits} new commit${m.commits === 1 ? '' : 's'}` : m.change}`);
  if (moved.length > limit) parts.push(`${moved.length - limit} more`);
  return parts.join('; ');
}
