// What holding peers to the shown set costs (workers/p2p/shown.ts, guard.ts), in a repository with
// many refs: 2000 commits on main, a tag on each, 200 branches, and a private remote's 500 commits
// with 500 tags followed from it (hidden). Per session the guard holds upload-pack's advertisement,
// decides the shown set from it (a walk only when the refs changed since the last session) and
// passes on what is shown. The floor is upload-pack's advertisement alone, in the same run. Then
// a no-op `git fetch` by hand over the held link (v0: the whole shown listing travels each time).

import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { git, refValue } from '../test/support/git.js';
import { eventually } from '../test/support/daemon.js';
import { gitRun, twoPeers } from '../test/p2p/support.js';
import type { Transform } from 'node:stream';
import { advertisementFilter } from '../workers/p2p/guard.js';
import { UPLOAD_PACK_ARGS } from '../workers/p2p/uploadpack.js';
import { parseShowRules, ShownRefs } from '../workers/p2p/shown.js';
import { median, report } from './report.js';

const COMMITS = 2000;
const BRANCHES = 200;
const PRIVATE = 500;

/** Fills `repo` (whose main has one commit) with the refs above, through fast-import. */
export function manyRefs(repo: string): void {
  const base = git(repo, 'rev-parse', 'refs/heads/main');
  const lines: string[] = [];
  const chain = (ref: string, n: number, from: string, mark0: number, tag: (i: number) => string, label: string) => {
    for (let i = 0; i < n; i++) {
      const mark = mark0 + i;
      lines.push(`commit ${ref}`, `mark :${mark}`, `committer B <b@example.invalid> ${1_700_000_000 + i} +0000`, 'data 8', `${label} ${String(i).padStart(5, '0')}`);
      lines.push(i === 0 ? `from ${from}` : `from :${mark - 1}`, `M 644 inline f${i % 50}.txt`, `data ${String(i).length}`, String(i), '');
    }
    for (let i = 0; i < n; i++) lines.push(`reset refs/tags/${tag(i)}`, `from :${mark0 + i}`, '');
  };
  chain('refs/heads/main', COMMITS, base, 1, (i) => `v${i}`, 'c');
  chain('refs/remotes/work/main', PRIVATE, base, 100_000, (i) => `work-${i}`, 'w');
  for (let i = 0; i < BRANCHES; i++) lines.push(`reset refs/heads/b${i}`, `from :${1 + Math.floor((i * COMMITS) / BRANCHES)}`, '');
  execFileSync('git', ['fast-import', '--quiet'], { cwd: repo, input: `${lines.join('\n')}\n` });
  execFileSync('git', ['pack-refs', '--all'], { cwd: repo }); // as a repository with many refs has them
}

function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  return fn().then(() => performance.now() - t0);
}

/** upload-pack's v0 advertisement of `gitDir` as peers are served it, through `through` when given; its bytes. */
function advertisement(gitDir: string, through?: () => Transform): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', [...UPLOAD_PACK_ARGS, '--advertise-refs', gitDir], { stdio: ['ignore', 'pipe', 'ignore'] });
    const out = through ? child.stdout.pipe(through()) : child.stdout;
    let bytes = 0;
    out.on('data', (d: Buffer) => (bytes += d.length));
    out.on('error', reject);
    out.on('end', () => resolve(bytes));
    child.on('error', reject);
  });
}

export async function benchP2pShown(samples = 20): Promise<void> {
  const cleanups: (() => unknown)[] = [];
  try {
    const { p, a, b } = await twoPeers({ after: (fn) => cleanups.push(fn) });
    manyRefs(b);
    // A's daemon fetches the new branches (offered by B's ref watcher): let that finish first.
    await eventually(() => refValue(a, `refs/remotes/b/b${BRANCHES - 1}`) !== undefined, 'A fetched the new branches', 120_000);
    const gitDir = join(b, '.git');
    const refCount = git(b, 'for-each-ref').split('\n').length;

    const floor: number[] = [];
    const warm: number[] = [];
    const cold: number[] = [];
    const rules = parseShowRules([]).rules;
    const kept = new ShownRefs(gitDir, rules);
    let sizes: [number, number] = [0, 0];
    for (let i = 0; i < samples; i++) {
      let plain = 0;
      let guarded = 0;
      floor.push(await timed(async () => (plain = await advertisement(gitDir))));
      warm.push(await timed(async () => (guarded = await advertisement(gitDir, () => advertisementFilter((l, h) => kept.decide(l, h)).filter))));
      const fresh = new ShownRefs(gitDir, rules);
      cold.push(await timed(() => advertisement(gitDir, () => advertisementFilter((l, h) => fresh.decide(l, h)).filter)));
      sizes = [plain, guarded];
    }
    const ratio = median(warm) / median(floor);
    report(`peer: advertisement through the guard, ${refCount} refs`, `${median(warm).toFixed(1)} ms, ${ratio.toFixed(2)}x upload-pack's alone (${median(floor).toFixed(1)} ms; target <= 1.5x): ${ratio <= 1.5 ? 'met' : 'not met'}`);
    report('peer: the same after a ref change (walk to decide on tags)', `${median(cold).toFixed(1)} ms, ${(median(cold) / median(floor)).toFixed(1)}x upload-pack's alone`);
    report('peer: advertisement bytes, all branches and tags / shown', `${(sizes[0] / 1024).toFixed(0)} KiB / ${(sizes[1] / 1024).toFixed(0)} KiB`);

    // A no-op fetch of one branch by hand over A's held link to B, and the same from B's path (v2,
    // no link, no guard): what a fetch pays for the link and the full v0 listing together.
    const link: number[] = [];
    const local: number[] = [];
    const main = git(b, 'rev-parse', 'refs/heads/main');
    const first = await gitRun(a, p.env, 'fetch', '-q', '--no-tags', '--refmap=', 'b', '+refs/heads/main:refs/bench/main');
    if (first.code !== 0) throw new Error(first.stderr);
    if (git(a, 'rev-parse', 'refs/bench/main') !== main) throw new Error('the fetch over the link did not arrive');
    for (let i = 0; i < 10; i++) {
      link.push(await timed(() => gitRun(a, p.env, 'fetch', '-q', '--no-tags', '--refmap=', 'b', '+refs/heads/main:refs/bench/main')));
      local.push(await timed(() => gitRun(a, p.env, 'fetch', '-q', '--no-tags', '--refmap=', b, '+refs/heads/main:refs/bench/local')));
    }
    report(`peer: no-op git fetch by hand over the held link, ${refCount} refs`, `${median(link).toFixed(0)} ms (the same from B's path, v2: ${median(local).toFixed(0)} ms)`);
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchP2pShown();
