// What a fetch through git-remote-p2p received, checked as `transfer.fsckObjects` would have
// checked it, for fetches where git itself does not (a hand-run `git fetch <peer>` in a repository
// without that setting). A peer is a person's laptop, not a forge: what it sends must not land
// unchecked, whoever runs the fetch.
//
// git runs a connect helper's session itself (fetch-pack, index-pack or unpack-objects) and no
// helper can switch its checks on. But git waits for the helper to exit after it has stored the
// pack and before it updates any ref (transport.c: finish_connect), and fails the fetch when the
// helper fails. So the helper lists the object store before the session, and after it checks
// what is new: each new pack with `git index-pack --strict` (as fetch-pack runs it with the
// setting), new loose objects (a small fetch is unpacked) packed into a scratch pack and checked
// the same way. A failure fails the fetch: no ref moves, and what was refused is removed again.

import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { last, parseBool, type GitConfig } from '../../shared/gitconfig.js';

export interface ObjectSnapshot {
  packs: Set<string>;
  loose: Set<string>;
}

/** Does git check what this fetch receives (fetch.fsckObjects, else transfer.fsckObjects)? */
export function gitChecksFetches(config: GitConfig): boolean {
  const value = last(config, 'fetch.fsckobjects') ?? last(config, 'transfer.fsckobjects');
  return value !== undefined && parseBool(value) === true;
}

/**
 * `--strict` as fetch-pack builds it: with the user's `fetch.fsck.<msg-id>` severities and
 * `fetch.fsck.skipList`, so a check git would waive is waived here too.
 */
export function strictArgument(config: GitConfig): string {
  const parts: string[] = [];
  for (const [key, values] of config) {
    const m = /^fetch\.fsck\.(.+)$/.exec(key);
    const value = values.at(-1);
    if (!m || value === undefined || /[,=\s]/.test(value) || !/^[a-z0-9]+$/.test(m[1])) continue;
    if (m[1] === 'skiplist') parts.push(`skiplist=${value}`);
    else parts.push(`${m[1]}=${value.toLowerCase()}`);
  }
  return parts.length ? `--strict=${parts.join(',')}` : '--strict';
}

/** The packs and loose objects in `objectsDir` now. */
export function snapshotObjects(objectsDir: string): ObjectSnapshot {
  const packs = new Set<string>();
  const loose = new Set<string>();
  for (const name of list(join(objectsDir, 'pack'))) if (name.endsWith('.pack')) packs.add(name);
  for (const dir of list(objectsDir)) {
    if (!/^[0-9a-f]{2}$/.test(dir)) continue;
    for (const rest of list(join(objectsDir, dir))) if (/^[0-9a-f]{38}([0-9a-f]{24})?$/.test(rest)) loose.add(dir + rest);
  }
  return { packs, loose };
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * Checks what arrived since `before` through the fetch run by one of `gitPids` (git fetch names
 * itself in the `.keep` file of the pack it receives: `fetch-pack <pid> on <host>`); resolves
 * with why it is refused, or undefined. What is refused is removed again, so that a second fetch
 * does not find it already here and take it unchecked (git skips the transfer when it has the
 * objects it wants).
 */
export async function checkArrived(objectsDir: string, before: ObjectSnapshot, strict: string, cwd: string, gitPids: number[]): Promise<string | undefined> {
  const now = snapshotObjects(objectsDir);
  const packDir = join(objectsDir, 'pack');
  // Only packs this fetch wrote: a pack a concurrent `git gc` wrote meanwhile is not ours to judge,
  // let alone to remove.
  const packs = [...now.packs].filter((pack) => !before.packs.has(pack) && gitPids.some((pid) => keptBy(join(packDir, pack), pid)));
  const loose = [...now.loose].filter((id) => !before.loose.has(id));
  if (packs.length === 0 && loose.length === 0) return undefined;
  const scratch = mkdtempSync(join(tmpdir(), 'git-remote-p2p-'));
  let refused: string | undefined;
  try {
    for (const pack of packs) {
      refused ??= await git(['index-pack', strict, '-o', join(scratch, `${pack}.idx`), join(packDir, pack)], cwd);
    }
    if (loose.length > 0) {
      refused ??= await git(['index-pack', '--stdin', strict, join(scratch, 'loose.pack')], cwd, ['pack-objects', '--stdout', '--window=0'], `${loose.join('\n')}\n`);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  if (refused === undefined) return undefined;
  for (const pack of packs) {
    const base = join(packDir, pack.replace(/\.pack$/, ''));
    // The index first: without it git no longer looks at the pack.
    for (const ext of ['.idx', '.rev', '.pack', '.keep']) rmSync(`${base}${ext}`, { force: true });
  }
  for (const id of loose) rmSync(join(objectsDir, id.slice(0, 2), id.slice(2)), { force: true });
  return refused;
}

/** The pack's `.keep` says git fetch `pid` wrote it. */
function keptBy(packPath: string, pid: number): boolean {
  try {
    return readFileSync(packPath.replace(/\.pack$/, '.keep'), 'utf8').startsWith(`fetch-pack ${pid} `);
  } catch {
    return false;
  }
}

/**
 * Runs `git <args>` (fed by `git <feeder>` given `input`, if any); resolves with its complaint
 * when it fails, undefined when it succeeds.
 */
function git(args: string[], cwd: string, feeder?: string[], input?: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = spawn('git', args, { cwd, stdio: [feeder ? 'pipe' : 'ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 4096) stderr += d;
    });
    if (feeder) {
      const source = spawn('git', feeder, { cwd, stdio: ['pipe', 'pipe', 'ignore'] });
      source.on('error', () => child.kill());
      source.stdin.on('error', () => {});
      source.stdin.end(input);
      child.stdin!.on('error', () => {});
      source.stdout.pipe(child.stdin!);
    }
    child.on('error', (err) => resolve(err.message));
    child.on('close', (code) => resolve(code === 0 ? undefined : stderr.trim().split('\n').slice(-3).join('; ') || `git ${args[0]} failed (${code})`));
  });
}

