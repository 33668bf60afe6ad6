// The guard's two filters against made-up sessions (no git, no network), and the shown set against
// a real repository: the rules the end-to-end attacks in shown.test.ts rely on, case by case.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import type { Transform } from 'node:stream';
import { advertisementFilter, requestFilter, type RequestChecks } from '../../workers/p2p/guard.js';
import { parseShowRules, reachableFrom, ShownRefs, type Shown } from '../../workers/p2p/shown.js';
import { commit, git, tempDir } from '../support/git.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);
const T = 'e'.repeat(40);

function pkt(s: string): string {
  return `${(Buffer.byteLength(s) + 4).toString(16).padStart(4, '0')}${s}`;
}

const shown: Shown = {
  refs: new Map([
    ['HEAD', A],
    ['refs/heads/main', A],
    ['refs/tags/v1', T],
  ]),
  head: 'refs/heads/main',
  wants: new Set([A, T]),
  tips: [A],
};

async function through(filter: Transform, input: string, chunk = 7): Promise<string> {
  const bytes = Buffer.from(input);
  const pieces: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunk) pieces.push(bytes.subarray(i, i + chunk));
  return text(Readable.from(pieces).pipe(filter));
}

test('the advertisement keeps only shown refs at their shown values, moves the capabilities, drops a symref to a hidden branch', async () => {
  const advert =
    pkt(`${C} HEAD\0multi_ack symref=HEAD:refs/heads/secret agent=git/2.39\n`) +
    pkt(`${A} refs/heads/main\n`) +
    pkt(`${C} refs/heads/secret\n`) +
    pkt(`${B} refs/tags/from-work\n`) +
    pkt(`${C} refs/tags/from-work^{}\n`) +
    pkt(`${T} refs/tags/v1\n`) +
    pkt(`${A} refs/tags/v1^{}\n`) +
    pkt(`${B} refs/heads/moved\n`) +
    '0000' +
    'PACK rest passes as is';
  const asked: [string[], string | undefined][] = [];
  const { filter, shown: decided } = advertisementFilter(async (listing, head) => {
    asked.push([[...listing].map(([ref, id]) => `${ref}=${id[0]}`), head]);
    return { ...shown, refs: new Map([...shown.refs, ['refs/heads/moved', A]]) };
  });
  const out = await through(filter, advert);
  // Decided from upload-pack's own listing: branches and tags at their values, where HEAD points.
  assert.deepEqual(asked, [[['refs/heads/main=a', 'refs/heads/secret=c', 'refs/tags/from-work=b', 'refs/tags/v1=e', 'refs/heads/moved=b'], 'refs/heads/secret']]);
  assert.equal((await decided).head, 'refs/heads/main');
  assert.equal(
    out,
    pkt(`${A} refs/heads/main\0multi_ack agent=git/2.39\n`) + pkt(`${T} refs/tags/v1\n`) + pkt(`${A} refs/tags/v1^{}\n`) + '0000' + 'PACK rest passes as is',
  );
});

test('an advertisement with nothing shown still carries the capabilities; a line it cannot read ends the session', async () => {
  const nothing = async (): Promise<Shown> => ({ refs: new Map(), wants: new Set(), tips: [] });
  const out = await through(advertisementFilter(nothing).filter, pkt(`${C} refs/heads/x\0ofs-delta\n`) + '0000');
  assert.equal(out, pkt(`${'0'.repeat(40)} capabilities^{}\0ofs-delta\n`) + '0000');
  const fixed = async () => shown;
  await assert.rejects(through(advertisementFilter(fixed).filter, pkt('version 2\n') + '0000'), /cannot read/);
  await assert.rejects(through(advertisementFilter(fixed).filter, 'zzzz'), /malformed/);
});

const noShallow: RequestChecks = {
  reachable: async () => new Set(),
  log: () => {},
};

test('the request passes wants of shown values and deepen lines; it refuses other wants, unknown lines and deepen-not of hidden refs', async () => {
  const ok = pkt(`want ${A} side-band-64k ofs-delta\n`) + pkt(`want ${T}\n`) + pkt('deepen 1\n') + pkt('deepen-not main\n') + '0000' + pkt('done\n');
  assert.equal(await through(requestFilter(Promise.resolve(shown), noShallow), ok), ok);
  for (const [request, why] of [
    [pkt(`want ${C}\n`) + '0000', /not our ref c{40}/],
    [pkt(`want ${A}\n`) + pkt('filter blob:none\n') + '0000', /filter is not served/],
    [pkt(`want ${A}\n`) + pkt('deepen-not refs/remotes/work/main\n') + '0000', /deepen-not names no ref shown/],
    [pkt(`want ${A}\n`) + pkt('shallow nonsense\n') + '0000', /malformed shallow/],
    [pkt(`want ${A}\n`) + '00zz', /malformed pkt-line/],
  ] as const) {
    await assert.rejects(through(requestFilter(Promise.resolve(shown), noShallow), request), why);
  }
  // A request that never ends its first section forwards nothing.
  assert.equal(await through(requestFilter(Promise.resolve(shown), noShallow), pkt(`want ${A}\n`)), '');
});

test('shallow lines pass only for commits reachable from the shown branches', async () => {
  const asked: string[][] = [];
  const logged: string[] = [];
  const checks: RequestChecks = {
    reachable: async (ids, tips) => {
      asked.push([...ids, '|', ...tips]);
      return new Set([B]);
    },
    log: (line) => logged.push(line),
  };
  const out = await through(requestFilter(Promise.resolve(shown), checks), pkt(`want ${A}\n`) + pkt(`shallow ${B}\n`) + pkt(`shallow ${C}\n`) + pkt('deepen 2147483647\n') + '0000' + pkt('done\n'));
  assert.equal(out, pkt(`want ${A}\n`) + pkt('deepen 2147483647\n') + pkt(`shallow ${B}\n`) + '0000' + pkt('done\n'));
  assert.deepEqual(asked, [[B, C, '|', A]]);
  assert.match(logged.join('\n'), /dropped 1 shallow line/);
});

test('remotedaemon.p2p.show: patterns of branches and tags, ! to leave out; anything else is a problem and widens nothing', () => {
  assert.deepEqual(parseShowRules([]).rules, { show: ['refs/heads/*', 'refs/tags/*'], hide: [] });
  assert.deepEqual(parseShowRules(['!refs/tags/work-*']).rules, { show: ['refs/heads/*', 'refs/tags/*'], hide: ['refs/tags/work-*'] });
  const read = parseShowRules(['refs/heads/main', 'refs/remotes/*', 'refs/*', '*', 'refs/heads/../x']);
  assert.deepEqual(read.rules, { show: ['refs/heads/main'], hide: [] });
  assert.equal(read.problems.length, 4);
});

test('the shown set of a real repository: tags only on shown branches, HEAD only as a symref to a shown branch; it follows ref changes', async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const repo = dir.path;
  git(repo, 'init', '-q', '-b', 'main');
  const main = commit(repo, 'main');
  git(repo, 'tag', 'v1');
  git(repo, 'checkout', '-q', '-b', 'private');
  const hidden = commit(repo, 'private');
  git(repo, 'tag', 'on-private');
  git(repo, 'update-ref', 'refs/remotes/work/main', hidden);
  git(repo, 'update-ref', '-d', 'refs/heads/private');
  git(repo, 'checkout', '-q', 'main');
  const refs = new ShownRefs(`${repo}/.git`, parseShowRules([]).rules);
  const first = await refs.current();
  assert.deepEqual([...first.refs].sort(), [['HEAD', main], ['refs/heads/main', main], ['refs/tags/v1', main]]);
  assert.equal(first.head, 'refs/heads/main');
  assert.deepEqual(first.tips, [main]);
  assert.equal(await refs.current(), first, 'unchanged refs: the same answer, no new walk');
  const parent = git(repo, 'rev-parse', `${hidden}~1`);
  assert.deepEqual(await reachableFrom(`${repo}/.git`, [parent, hidden, 'f'.repeat(40)], first.tips), new Set([parent]));
  // The private history merged into main: its tag is on a shown branch now.
  git(repo, 'merge', '-q', '--ff-only', hidden);
  assert.deepEqual([...(await refs.current()).refs.keys()].sort(), ['HEAD', 'refs/heads/main', 'refs/tags/on-private', 'refs/tags/v1']);
  git(repo, 'checkout', '-q', '--detach');
  assert.ok(!(await refs.current()).refs.has('HEAD'), 'a detached HEAD is not shown');
  refs.configure(parseShowRules(['!refs/tags/on-*']).rules);
  assert.deepEqual([...(await refs.current()).refs.keys()].sort(), ['refs/heads/main', 'refs/tags/v1']);
  refs.configure(parseShowRules(['refs/heads/*']).rules);
  assert.deepEqual([...(await refs.current()).refs.keys()].sort(), ['refs/heads/main']);
});
