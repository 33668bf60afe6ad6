// What a peer is shown of this repository: the one definition that serving (uploadpack.ts, guard.ts)
// enforces and that anything telling peers about refs (offers) should use.
//
// Shown: the branches that match `remotedaemon.p2p.show` (default every branch), the tags that
// match it (default every tag) AND whose target is reachable from a shown branch, and HEAD when it
// is a symbolic ref to a shown branch. The tag rule keeps tags that `git fetch` auto-followed from
// another remote (a private one) out of sight: they point into that remote's history, which is not
// on our branches. It also keeps one promise simple: everything a peer can get is reachable from
// the shown branches (plus the tag objects that name some of it).

import { spawn } from 'node:child_process';
import { advertisable } from './refnames.js';

/** The default when `remotedaemon.p2p.show` names no pattern to show. */
export const DEFAULT_SHOW = ['refs/heads/*', 'refs/tags/*'];

export interface ShowRules {
  /** Patterns (`*` matches anything, `/` included) a ref must match one of. */
  show: string[];
  /** Patterns a shown ref must match none of (`!` entries). */
  hide: string[];
}

/**
 * Reads `remotedaemon.p2p.show` values: `refs/heads/...` or `refs/tags/...` patterns, `!` in front
 * to exclude. Anything else is a problem and ignored (never widens what is shown).
 */
export function parseShowRules(values: string[]): { rules: ShowRules; problems: string[] } {
  const show: string[] = [];
  const hide: string[] = [];
  const problems: string[] = [];
  for (const value of values) {
    const negative = value.startsWith('!');
    const pattern = negative ? value.slice(1) : value;
    if (!/^refs\/(heads|tags)\/[^\0-\x20\x7f~^:?[\\]*$/.test(pattern) || pattern.includes('..')) {
      problems.push(`remotedaemon.p2p.show: ${JSON.stringify(value)} is not a refs/heads/... or refs/tags/... pattern; ignored`);
      continue;
    }
    (negative ? hide : show).push(pattern);
  }
  return { rules: { show: show.length ? show : [...DEFAULT_SHOW], hide }, problems };
}

function globToRegExp(pattern: string): RegExp {
  return new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}

export function matcher(rules: ShowRules): (ref: string) => boolean {
  const show = rules.show.map(globToRegExp);
  const hide = rules.hide.map(globToRegExp);
  return (ref) => advertisable(ref) && show.some((r) => r.test(ref)) && !hide.some((r) => r.test(ref));
}

export interface Shown {
  /** Shown refs and their values (`HEAD` included when shown). */
  refs: Map<string, string>;
  /** Where HEAD points, when HEAD is shown. */
  head?: string;
  /** Object ids a peer may ask for: the values of shown refs. */
  wants: Set<string>;
  /** Values of shown branches: what everything shown is reachable from. */
  tips: string[];
}

/**
 * The shown set of a snapshot of refs. A served session decides it from upload-pack's own
 * advertisement (the very refs it serves, no listing of ours); the reachability walk that decides
 * on tags runs only when a branch, a tag, HEAD or the rules changed since the last snapshot.
 */
export class ShownRefs {
  private last: { key: string; shown: Promise<Shown> } | undefined;

  constructor(
    private readonly gitDir: string,
    private rules: ShowRules,
  ) {}

  configure(rules: ShowRules): void {
    this.rules = rules;
  }

  /** `listing`: refs/heads and refs/tags names and values; `head`: where HEAD points, if a symref. */
  decide(listing: Map<string, string>, head: string | undefined): Promise<Shown> {
    const rules = this.rules;
    let key = `${JSON.stringify(rules)}\n${head ?? ''}`;
    for (const [ref, id] of listing) key += `\n${id} ${ref}`;
    if (this.last?.key !== key) {
      const shown = decide(this.gitDir, matcher(rules), listing, head);
      this.last = { key, shown };
      shown.catch(() => this.last?.shown === shown && (this.last = undefined));
    }
    return this.last.shown;
  }

  /** The shown set now, for whoever tells peers about refs outside a session (offers). */
  async current(): Promise<Shown> {
    const [listing, head] = await Promise.all([
      git(this.gitDir, ['for-each-ref', '--format=%(objectname) %(refname)', 'refs/heads', 'refs/tags']),
      git(this.gitDir, ['symbolic-ref', '-q', 'HEAD']).catch(() => ''), // detached: not shown
    ]);
    const refs = new Map<string, string>();
    for (const line of listing.split('\n')) {
      const [id, ref] = line.split(' ');
      if (ref) refs.set(ref, id);
    }
    return this.decide(refs, head.trim() || undefined);
  }
}

async function decide(gitDir: string, shows: (ref: string) => boolean, listing: Map<string, string>, head: string | undefined): Promise<Shown> {
  const branches = new Map<string, string>();
  let anyTag = false;
  for (const [ref, id] of listing) {
    if (!shows(ref)) continue;
    if (ref.startsWith('refs/heads/')) branches.set(ref, id);
    else anyTag = true;
  }
  const refs = new Map(branches);
  const tips = new Set(branches.values());
  if (anyTag && tips.size) {
    // One walk for all tags: those whose (peeled) target is reachable from any shown branch tip.
    // The tips are values read above, so the verdict and the values shown are one snapshot. A tag
    // is shown at the value in `listing` only: one that moved since is left out.
    const walk = (from: Iterable<string>) => git(gitDir, ['for-each-ref', '--format=%(objectname) %(refname)', ...[...from].map((t) => `--merged=${t}`), 'refs/tags']);
    // A branch that names no commit (rare) makes the walk fail: then it walks from those that do.
    const merged = await walk(tips).catch(async () => walk(await commitsAmong(gitDir, [...tips])));
    for (const line of merged.split('\n')) {
      const [id, ref] = line.split(' ');
      if (ref && shows(ref) && listing.get(ref) === id) refs.set(ref, id);
    }
  }
  const shown: Shown = { refs, wants: new Set(refs.values()), tips: [...tips] };
  const headValue = head === undefined ? undefined : refs.get(head);
  if (head !== undefined && headValue !== undefined && head.startsWith('refs/heads/')) {
    refs.set('HEAD', headValue);
    shown.head = head;
  }
  return shown;
}

/**
 * Of `ids`, the commits reachable from `tips` (ids unknown here or not commits are not). Streams
 * rev-list's answer: the history it lists (what is NOT reachable) is never held.
 */
export async function reachableFrom(gitDir: string, ids: string[], tips: string[]): Promise<Set<string>> {
  const commits = await commitsAmong(gitDir, ids);
  if (commits.size === 0 || tips.length === 0) return new Set();
  const reached = new Set(commits);
  const input = `${[...commits, ...tips.map((t) => `^${t}`)].join('\n')}\n`;
  await git(gitDir, ['rev-list', '--stdin'], input, (line) => reached.delete(line));
  return reached;
}

/** Of `ids`, those that name a commit here. */
async function commitsAmong(gitDir: string, ids: string[]): Promise<Set<string>> {
  const commits = new Set<string>();
  const typed = await git(gitDir, ['cat-file', '--batch-check=%(objectname) %(objecttype)'], `${ids.join('\n')}\n`);
  for (const line of typed.split('\n')) {
    const [id, type] = line.split(' ');
    if (type === 'commit') commits.add(id);
  }
  return commits;
}

function git(gitDir: string, args: string[], input?: string, onLine?: (line: string) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['--git-dir', gitDir, ...args], { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'ignore'] });
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      if (!onLine) return void (out += d);
      const lines = (out + d).split('\n');
      out = lines.pop()!;
      lines.forEach(onLine);
    });
    if (input !== undefined) {
      child.stdin!.on('error', () => {});
      child.stdin!.end(input);
    }
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`git ${args[0]} exited with ${code}`))));
  });
}
