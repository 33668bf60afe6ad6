// Imports go one way (docs/architecture.md, "Folders"): shared/ at the bottom, workers/ on it,
// src/ on top, and a transport's folder reached from outside only through its plugin.ts, which only
// the lists import (workers/transports.ts the transports, workers/registry.ts the notice carriers).
// Checked over the sources: a new upward or sideways import fails here, naming file and import.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LAYERS = ['shared', 'workers', 'src'] as const;
const REGISTRY = 'workers/registry.ts';
/** The lists, the only modules outside a plugin's folder that import its plugin.ts. */
const LISTS = [REGISTRY, 'workers/transports.ts'];

/** Every TypeScript source of the three layers, path from the root (with /) -> text. */
function sources(): Map<string, string> {
  const found = new Map<string, string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) found.set(relative(ROOT, path).split(sep).join('/'), readFileSync(path, 'utf8'));
    }
  };
  for (const layer of LAYERS) walk(join(ROOT, layer));
  return found;
}

interface Import {
  file: string;
  line: number;
  specifier: string;
  /** The source file it names, from the root: `.js` read as `.ts` (dist/ mirrors the tree). */
  target: string;
}

// Static imports and re-exports (`from '...'`, also split over lines), bare `import '...'`,
// dynamic `import('...')`, and module files named by `new URL('...', import.meta.url)` (worker
// and endpoint modules, which the pool loads by path).
const IMPORT = /\b(?:(?:import|export)\s[^'";]*?\sfrom\s*|import\s*\(\s*|import\s+|new URL\(\s*)(['"])(\.{1,2}\/[^'"]*)\1/g;

/** The relative imports in `files` (package imports are no layer's). */
function importsOf(files: Map<string, string>): Import[] {
  const imports: Import[] = [];
  for (const [file, text] of files) {
    const lines = text.split('\n');
    for (const match of text.matchAll(IMPORT)) {
      const line = text.slice(0, match.index).split('\n').length;
      if (/^\s*(\/\/|\*|\/\*)/.test(lines[line - 1]!)) continue; // a comment that shows an import
      const specifier = match[2]!;
      const isUrl = match[0].startsWith('new URL');
      if (isUrl && !specifier.endsWith('.js')) continue; // a script or data file, not a module of ours
      const target = posix.normalize(posix.join(posix.dirname(file), specifier)).replace(/\.js$/, '.ts');
      imports.push({ file, line, specifier, target });
    }
  }
  return imports;
}

/** Folders of workers/ that hold a plugin (a transport or a notice carrier): workers/<name>/. */
function pluginFolders(files: Iterable<string>): Set<string> {
  const folders = new Set<string>();
  for (const file of files) {
    const m = /^workers\/([^/]+)\/(?:.*\/)?plugin\.ts$/.exec(file);
    if (m) folders.add(`workers/${m[1]}/`);
  }
  return folders;
}

/** Every import that breaks the layering, as "file:line imports 'specifier': why". */
function violations(files: Map<string, string>): string[] {
  const plugins = pluginFolders(files.keys());
  const folderOf = (path: string) => [...plugins].find((folder) => path.startsWith(folder));
  const layerOf = (path: string) => LAYERS.find((layer) => path.startsWith(`${layer}/`));
  const found: string[] = [];
  for (const { file, line, specifier, target } of importsOf(files)) {
    const say = (why: string) => found.push(`${file}:${line} imports '${specifier}' (${target}): ${why}`);
    const from = layerOf(file);
    const to = layerOf(target);
    if (to === undefined) continue; // outside the three layers (package.json, bin/)
    if (from === 'shared' && to !== 'shared') say('shared/ is the bottom layer: it imports only shared/');
    else if (from === 'workers' && to === 'src') say('workers/ never imports src/: move what both need to shared/');
    else if (from === 'src' && to === 'workers' && target !== REGISTRY) say(`src/ reaches workers/ only through ${REGISTRY}`);
    else if (from === 'workers') {
      const mine = folderOf(file);
      const theirs = folderOf(target);
      if (theirs !== undefined && theirs !== mine && !(LISTS.includes(file) && /^workers\/[^/]+\/plugin\.ts$/.test(target))) {
        say(mine
          ? `a plugin's folder never imports another's (${theirs}): move what both need to shared/ or workers/`
          : `outside ${theirs}, only the lists (${LISTS.join(', ')}) import it (its plugin.ts); the rest goes through the registry`);
      }
    }
  }
  return found;
}

test('imports go one way: shared/ <- workers/ <- src/, transports reached through the registry', () => {
  const found = violations(sources());
  assert.deepEqual(found, [], `imports against the layering (docs/architecture.md, "Folders"):\n${found.join('\n')}`);
});

test('the check reads the imports it guards', () => {
  const imports = importsOf(sources());
  const seen = (file: string, target: string) => imports.some((i) => i.file === file && i.target === target);
  assert.ok(seen('src/config.ts', REGISTRY), 'src/config.ts imports the registry');
  assert.ok(seen('workers/session.ts', 'shared/workerapi.ts'), 'a multi-name static import');
  assert.ok(seen('workers/registry.ts', 'workers/session.ts'), "the session's module path, new URL(...)");
  assert.ok(seen('workers/p2p/plugin.ts', 'workers/p2p/transport.ts'), 'a dynamic import()');
  assert.ok(imports.filter((i) => i.target.startsWith('shared/')).length > 50, 'both sides import shared/');
});

test('the check fails on each kind of wrong import, naming the file and the import', () => {
  const files = new Map([
    ['shared/kit/a.ts', "import { b } from '../../src/b.js';\n"],
    ['src/b.ts', "// import { x } from '../workers/ssh/transport.js'; (a comment: fine)\nexport const b = 1;\nconst m = await import('../workers/ssh/transport.js');\n"],
    ['src/c.ts', "import {\n  type Thing,\n} from '../workers/session.js';\nimport { ok } from '../workers/registry.js';\n"],
    ['workers/session.ts', "import type { Options } from '../src/config.js';\n"],
    ['workers/registry.ts', "import { sshPlugin } from './ssh/plugin.js';\n"],
    ['workers/ssh/plugin.ts', "export const sshPlugin = {};\nconst file = new URL('../p2p/endpoint.js', import.meta.url);\n"],
    ['workers/p2p/plugin.ts', "export const p2pPlugin = {};\n"],
    ['workers/notice/hub.ts', "import { x } from '../ssh/transport.js';\n"],
  ]);
  assert.deepEqual(violations(files), [
    "shared/kit/a.ts:1 imports '../../src/b.js' (src/b.ts): shared/ is the bottom layer: it imports only shared/",
    "src/b.ts:3 imports '../workers/ssh/transport.js' (workers/ssh/transport.ts): src/ reaches workers/ only through workers/registry.ts",
    "src/c.ts:1 imports '../workers/session.js' (workers/session.ts): src/ reaches workers/ only through workers/registry.ts",
    "workers/session.ts:1 imports '../src/config.js' (src/config.ts): workers/ never imports src/: move what both need to shared/",
    "workers/ssh/plugin.ts:2 imports '../p2p/endpoint.js' (workers/p2p/endpoint.ts): a plugin's folder never imports another's (workers/p2p/): move what both need to shared/ or workers/",
    "workers/notice/hub.ts:1 imports '../ssh/transport.js' (workers/ssh/transport.ts): outside workers/ssh/, only the lists (workers/registry.ts, workers/transports.ts) import it (its plugin.ts); the rest goes through the registry",
  ]);
});
