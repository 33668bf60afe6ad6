// What a fetch through git-remote-p2p received, checked without a peer (workers/p2p/received.ts):
// objects are put into a real repository the way a fetch would leave them (loose, or a pack with
// git fetch's .keep), and what the real `git index-pack --strict` refuses is reported and removed.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkArrived, gitChecksFetches, snapshotObjects, strictArgument } from '../../workers/p2p/received.js';
import { git, tempDir } from '../support/git.js';

const config = (entries: [string, string][]) => {
  const map = new Map<string, string[]>();
  for (const [key, value] of entries) map.set(key, [...(map.get(key) ?? []), value]);
  return map;
};

function repo(t: TestContext): { dir: string; objects: string } {
  const d = tempDir('grd-received-');
  t.after(d.cleanup);
  git(d.path, 'init', '-q', '-b', 'main', 'repo');
  const dir = join(d.path, 'repo');
  return { dir, objects: join(dir, '.git', 'objects') };
}

/** A commit whose author line fsck refuses (no email), written loose as a fetch would unpack it. */
function badCommit(dir: string, message = 'bad'): string {
  const tree = execFileSync('git', ['mktree'], { cwd: dir, input: '', encoding: 'utf8' }).trim();
  const body = `tree ${tree}\nauthor Mallory 1700000000 +0000\ncommitter Mallory <m@example.invalid> 1700000000 +0000\n\n${message}\n`;
  return execFileSync('git', ['hash-object', '--literally', '-t', 'commit', '-w', '--stdin'], { cwd: dir, input: body, encoding: 'utf8' }).trim();
}

function goodCommit(dir: string, message = 'good'): string {
  const tree = execFileSync('git', ['mktree'], { cwd: dir, input: '', encoding: 'utf8' }).trim();
  return git(dir, 'commit-tree', '-m', message, tree);
}

const looseExists = (objects: string, id: string) => existsSync(join(objects, id.slice(0, 2), id.slice(2)));

/** Packs `ids` into objects/pack as git fetch `pid` would keep it; removes the loose copies. */
function fetchedPack(dir: string, objects: string, ids: string[], pid: number): string {
  const hash = execFileSync('git', ['pack-objects', join(objects, 'pack', 'pack')], { cwd: dir, input: `${ids.join('\n')}\n`, encoding: 'utf8' }).trim();
  writeFileSync(join(objects, 'pack', `pack-${hash}.keep`), `fetch-pack ${pid} on laptop\n`);
  git(dir, 'prune-packed');
  return `pack-${hash}.pack`;
}

test('git checks fetches itself when fetch.fsckObjects says so, else transfer.fsckObjects', () => {
  assert.equal(gitChecksFetches(config([])), false);
  assert.equal(gitChecksFetches(config([['transfer.fsckobjects', 'true']])), true);
  assert.equal(gitChecksFetches(config([['transfer.fsckobjects', 'true'], ['fetch.fsckobjects', 'false']])), false, 'fetch.* wins');
  assert.equal(gitChecksFetches(config([['fetch.fsckobjects', 'no'], ['fetch.fsckobjects', 'yes']])), true, 'the last value counts');
});

test('--strict carries the user\'s fetch.fsck severities (in lower case) and skip list (as written); odd values are left out', () => {
  assert.equal(strictArgument(config([])), '--strict');
  assert.equal(
    strictArgument(config([['fetch.fsck.missingemail', 'IGNORE'], ['fetch.fsck.skiplist', '/Home/Skip'], ['fetch.fsckobjects', 'true'], ['fetch.fsck.baddate', 'warn, x=1'], ['fetch.fsck.bad-id', 'ignore']])),
    '--strict=missingemail=ignore,skiplist=/Home/Skip',
  );
});

test('a snapshot lists the packs and the loose objects, nothing else', (t) => {
  const { dir, objects } = repo(t);
  const id = goodCommit(dir);
  writeFileSync(join(objects, 'info', 'stray'), '');
  const loose = snapshotObjects(objects);
  assert.ok(loose.loose.has(id));
  assert.equal(loose.packs.size, 0);
  git(dir, 'update-ref', 'refs/heads/main', id);
  git(dir, 'repack', '-q', '-a', '-d');
  const packed = snapshotObjects(objects);
  assert.equal(packed.loose.has(id), false);
  assert.equal(packed.packs.size, 1);
  assert.match([...packed.packs][0], /^pack-[0-9a-f]+\.pack$/);
});

test('new loose objects git refuses are reported and removed; good ones and older ones stay', async (t) => {
  const { dir, objects } = repo(t);
  const older = badCommit(dir, 'there before the fetch');
  const before = snapshotObjects(objects);
  const good = goodCommit(dir);
  assert.equal(await checkArrived(objects, before, '--strict', dir, []), undefined, 'only good objects arrived');
  const bad = badCommit(dir);
  const refused = await checkArrived(objects, before, '--strict', dir, []);
  assert.match(refused ?? '', /missingEmail|email/i);
  assert.equal(looseExists(objects, bad), false, 'what was refused is removed');
  assert.equal(looseExists(objects, good), false, 'with what arrived beside it');
  assert.equal(looseExists(objects, older), true, 'what was there before is not this fetch\'s');
});

test('the user\'s severities waive a check as git would', async (t) => {
  const { dir, objects } = repo(t);
  const before = snapshotObjects(objects);
  const bad = badCommit(dir);
  assert.equal(await checkArrived(objects, before, strictArgument(config([['fetch.fsck.missingemail', 'ignore']])), dir, []), undefined);
  assert.equal(looseExists(objects, bad), true);
});

test('a new pack is judged only when this fetch wrote it: refused and removed, .keep and all', async (t) => {
  const { dir, objects } = repo(t);
  const before = snapshotObjects(objects);
  const pack = fetchedPack(dir, objects, [badCommit(dir)], 4242);
  assert.equal(await checkArrived(objects, before, '--strict', dir, [999]), undefined, 'another process\'s pack (a gc, say) is not ours to judge');
  assert.ok(readdirSync(join(objects, 'pack')).includes(pack));
  assert.match((await checkArrived(objects, before, '--strict', dir, [999, 4242])) ?? '', /missingEmail|email/i);
  assert.deepEqual(readdirSync(join(objects, 'pack')), [], 'pack, index and .keep removed');
});
