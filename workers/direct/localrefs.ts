// The local refs a direct fetch compares with the remote's, read from git's files backend without a
// git process (a Node thread pays ~10 ms for each process it forks): loose refs over packed-refs.
// Read synchronously: a few small files, where the thread pool's round trips cost more.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LocalRefs } from './plan.js';

/**
 * The local refs under `prefixes` (symbolic refs left out) and the tags, read from the ref files
 * (git's files backend: loose refs over packed-refs) without a git process. A ref that moves while
 * this reads is harmless: every update names the value read, and update-ref refuses it otherwise.
 */
export function readLocalRefs(commonDir: string, prefixes: readonly string[]): LocalRefs {
  const values = new Map<string, string | null>(); // null: a symbolic ref
  const under = (ref: string) => ref.startsWith('refs/tags/') || prefixes.some((p) => ref.startsWith(p));
  let packed = '';
  try {
    packed = readFileSync(join(commonDir, 'packed-refs'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  for (const line of packed.split('\n')) {
    const m = /^([0-9a-f]{40}|[0-9a-f]{64}) (refs\/\S+)$/.exec(line);
    if (m && under(m[2]!)) values.set(m[2]!, m[1]!);
  }
  // A prefix need not be a directory: a refspec without a pattern names one ref
  // (`refs/remotes/origin/main`), a pattern may start inside a name (`refs/remotes/origin/f-`).
  // The walk starts at the directory holding it and keeps what starts with it.
  const dirs = new Set([...prefixes, 'refs/tags/'].map((p) => p.slice(0, p.lastIndexOf('/'))).filter((d) => d.startsWith('refs')));
  for (const dir of dirs) readLoose(commonDir, dir, values, under);
  const local: LocalRefs = { tracking: new Map(), tags: new Set() };
  for (const [ref, sha] of values) {
    if (sha === null) continue;
    if (ref.startsWith('refs/tags/')) local.tags.add(ref);
    else local.tracking.set(ref, sha);
  }
  return local;
}

function readLoose(commonDir: string, ref: string, into: Map<string, string | null>, under: (ref: string) => boolean): void {
  let entries;
  try {
    entries = readdirSync(join(commonDir, ref), { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return;
    throw err;
  }
  for (const entry of entries) {
    const name = `${ref}/${entry.name}`;
    if (entry.isDirectory()) readLoose(commonDir, name, into, under);
    if (!entry.isFile() || entry.name.endsWith('.lock') || !under(name)) continue;
    let text;
    try {
      text = readFileSync(join(commonDir, name), 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    const sha = /^([0-9a-f]{40}|[0-9a-f]{64})\n?$/.exec(text)?.[1];
    into.set(name, sha ?? null); // `ref: ...` (symbolic), or not a ref: not one to move
  }
}
