// src/fileswatch.ts on a real directory: a file replaced by a rename (as git writes its config)
// is seen, a burst of changes is one call, other files in the directory are not ours, and a file
// no longer asked for, or a closed watch, calls nothing.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FilesWatch } from '../src/fileswatch.js';
import { tempDir } from './support/git.js';

const DEBOUNCE_MS = 30;

function watching(t: TestContext): { dir: string; watch: FilesWatch; calls: () => number; next: () => Promise<void>; logs: string[] } {
  const d = tempDir('grd-fileswatch-');
  t.after(d.cleanup);
  let count = 0;
  let waiter: (() => void) | undefined;
  const logs: string[] = [];
  const watch = new FilesWatch({
    debounceMs: DEBOUNCE_MS,
    onChange: () => {
      count++;
      waiter?.();
    },
    log: (text) => logs.push(text),
  });
  t.after(() => watch.close());
  // The watch is not persistent (it must not keep a daemon alive): a deadline keeps this test's
  // event loop going while it waits, and fails the wait if nothing comes.
  const next = () =>
    new Promise<void>((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error('no change was reported within 5 s')), 5000);
      waiter = () => {
        clearTimeout(deadline);
        resolve();
      };
    });
  return { dir: d.path, watch, calls: () => count, next, logs };
}

/** As git writes a config file: a lock file renamed over it. */
function gitWrites(file: string, text: string): void {
  writeFileSync(`${file}.lock`, text);
  renameSync(`${file}.lock`, file);
}

test('a file replaced by a rename, again and again, is one call per burst; the next burst is another', async (t) => {
  const w = watching(t);
  const config = join(w.dir, 'config');
  writeFileSync(config, '');
  w.watch.set([config]);
  assert.deepEqual(w.logs, [`watching ${w.dir} for config changes`]);
  let next = w.next();
  for (let i = 0; i < 5; i++) gitWrites(config, `[core]\n\tx = ${i}\n`);
  await next;
  assert.equal(w.calls(), 1);
  next = w.next();
  gitWrites(config, '[core]\n\ty = 1\n');
  await next;
  assert.equal(w.calls(), 2);
});

test('other files in the directory are not ours; a file no longer asked for calls nothing; close ends it', async (t) => {
  const w = watching(t);
  const config = join(w.dir, 'config');
  const other = join(w.dir, 'other');
  w.watch.set([config, other]);
  let next = w.next();
  writeFileSync(other, 'x');
  await next; // asked for: seen
  w.watch.set([config]);
  writeFileSync(join(w.dir, 'unrelated'), 'x');
  writeFileSync(other, 'y');
  // Proving an absence: those two writes, not ours now, would have called within the debounce.
  await new Promise((r) => setTimeout(r, DEBOUNCE_MS * 5));
  assert.equal(w.calls(), 1);
  next = w.next();
  gitWrites(config, 'z');
  await next;
  assert.equal(w.calls(), 2);
  w.watch.close();
  gitWrites(config, 'after close');
  await new Promise((r) => setTimeout(r, DEBOUNCE_MS * 5)); // an absence again
  assert.equal(w.calls(), 2);
});

test('a directory that does not exist yet is no error and says nothing; asked again once it exists, it is watched', async (t) => {
  const w = watching(t);
  const later = join(w.dir, 'later', 'config');
  w.watch.set([later]);
  assert.deepEqual(w.logs, []);
  mkdirSync(join(w.dir, 'later'));
  w.watch.set([later]);
  assert.deepEqual(w.logs, [`watching ${join(w.dir, 'later')} for config changes`]);
  const next = w.next();
  gitWrites(later, 'x');
  await next;
  assert.equal(w.calls(), 1);
});
