// docs/architecture.md is the map: each of its claims about where things are must be checkable
// against the tree. This reads its "Folders" section and fails when the map names a file or folder
// that does not exist, or when a source file of src/, workers/ or shared/ is under no map line
// (neither named nor inside a folder the map describes). Paths anywhere in the document that start
// at a top-level folder (`src/...`, `test/...`) must exist too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, posix, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOC = 'docs/architecture.md';
const LAYERS = ['shared', 'workers', 'src'];
/** Top-level folders a root-relative path in the document may start with. */
const ROOTS = ['src/', 'workers/', 'shared/', 'test/', 'bench/', 'demo/', 'docs/', 'bin/', 'contrib/', 'man/', 'completion/'];

const exists = (path: string) => existsSync(join(ROOT, path));

/** A file or folder name as the map writes it: `name.ts`, `name.d.ts`, `name/`, `a/b.ts`. */
const PATH_TOKEN = /(?<![\w./<-])([\w-]+(?:\/[\w.-]+)*(?:\.(?:ts|sh)|\/))(?![\w<])/g;

interface Named {
  /** As the map resolves it, from the root; a folder ends in `/`. */
  path: string;
  line: number;
  token: string;
}

/**
 * The tree in the Folders section's code block: a line indented 0 (`src/`) starts a top-level
 * folder; a line indented 2 starts an entry (`gate.ts`, `actions/`, `local/, ssh/,`) of it; any
 * other line continues the previous entry's description. A name in an entry or its description is
 * resolved in the entry's folder (the entry itself when it is a folder), else from the root.
 */
function mapped(doc: string): { named: Named[]; missing: Named[] } {
  const lines = doc.split('\n');
  const start = lines.findIndex((l) => l === '## Folders');
  assert.ok(start >= 0, `${DOC} has a "## Folders" section`);
  const end = lines.findIndex((l, i) => i > start && l.startsWith('## '));
  const section = lines.slice(start, end < 0 ? undefined : end);
  // The tree is the code block whose first line is a folder with a description.
  const blocks: { from: number; body: string[] }[] = [];
  for (let i = 0; i < section.length; i++) {
    if (section[i] !== '```') continue;
    const close = section.indexOf('```', i + 1);
    blocks.push({ from: start + i + 2, body: section.slice(i + 1, close) });
    i = close;
  }
  const tree = blocks.find((b) => b.body.some((l) => /^ {2}[\w-]+\.ts\s/.test(l)));
  assert.ok(tree, `${DOC}'s Folders section has the folder tree`);

  const named: Named[] = [];
  const missing: Named[] = [];
  let top = '';
  let dirs: string[] = [];
  let headEndsComma = false;
  tree.body.forEach((text, index) => {
    const line = tree.from + index;
    const indent = /^ */.exec(text)![0].length;
    let description = text;
    if (indent === 0 && /^[\w-]+\//.test(text)) {
      top = /^[\w-]+\//.exec(text)![0];
      dirs = [top];
      description = text.slice(top.length);
      named.push({ path: top, line, token: top });
      headEndsComma = false;
    } else if (indent === 2) {
      const head = /^ {2}(\S+(?:,? \S+,?)*?)(?: {2,}|$)/.exec(text)![1];
      description = text.slice(2 + head.length);
      const entries = head.split(/,\s*/).filter(Boolean);
      const folders = entries.filter((e) => e.endsWith('/')).map((e) => top + e);
      // `local/, ssh/,` goes on as `http/, p2p/` on the next line: one entry over two lines.
      const continues = folders.length === entries.length && headEndsComma && dirs.some((d) => d !== top);
      dirs = continues ? [...dirs, ...folders] : folders.length ? folders : [top];
      headEndsComma = head.endsWith(',');
      for (const e of entries) named.push({ path: top + e, line, token: e });
    }
    for (const match of description.matchAll(PATH_TOKEN)) {
      const token = match[1];
      const candidates = [...new Set([...dirs, top].map((d) => posix.join(d, token))), token];
      const found = candidates.find(exists);
      if (found) named.push({ path: found, line, token });
      else if (ROOTS.some((r) => token.startsWith(r)) || /\.(ts|sh)$/.test(token)) missing.push({ path: candidates[0], line, token });
    }
  });
  for (const n of named) if (!exists(n.path) && !missing.includes(n)) missing.push(n);
  return { named: named.filter((n) => exists(n.path)), missing };
}

/** Every TypeScript source of the three layers, path from the root (with /). */
function sources(): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) found.push(relative(ROOT, path).split(sep).join('/'));
    }
  };
  for (const layer of LAYERS) walk(join(ROOT, layer));
  return found.sort();
}

const doc = readFileSync(join(ROOT, DOC), 'utf8');

test('every file and folder the map in docs/architecture.md names exists', () => {
  const { named, missing } = mapped(doc);
  assert.ok(named.length > 50, `the map names many paths (read ${named.length}): the parser still understands it`);
  assert.deepEqual(
    missing.map((m) => `${DOC}:${m.line}: ${m.token} (looked for ${m.path})`),
    [],
  );
});

test('every source file of src/, workers/ and shared/ is under a line of the map', () => {
  const { named } = mapped(doc);
  const files = new Set(named.filter((n) => !n.path.endsWith('/')).map((n) => n.path));
  // A top-level folder's own line covers only the files directly in it that nothing else names.
  const folders = named.filter((n) => n.path.endsWith('/') && !LAYERS.includes(n.path.slice(0, -1))).map((n) => n.path);
  const unmapped = sources().filter((f) => !files.has(f) && !folders.some((d) => f.startsWith(d)));
  assert.deepEqual(unmapped, [], 'add these to the Folders map of docs/architecture.md (a line of their own, or their folder)');
});

test('paths from a top-level folder anywhere in docs/architecture.md exist', () => {
  const wrong: string[] = [];
  const rooted = new RegExp(`(?<![\\w./~-])((?:${ROOTS.map((r) => r.slice(0, -1)).join('|')})/[\\w./-]*)`, 'g');
  let checked = 0;
  doc.split('\n').forEach((text, i) => {
    for (const [, found] of text.matchAll(rooted)) {
      // `workers/<name>/` stops at the placeholder; a sentence's full stop is no part of a path.
      const path = found.replace(/\.+$/, '');
      checked++;
      if (!exists(path)) wrong.push(`${DOC}:${i + 1}: ${path}`);
    }
  });
  assert.ok(checked > 30, `the document names many paths (read ${checked})`);
  assert.deepEqual(wrong, []);
});
