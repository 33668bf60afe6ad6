// The direct fetch's plan (workers/direct/plan.ts), pure: which configs it carries out itself and
// with which settings, every config under which it leaves the fetch to `git fetch` and why, and
// for a remote's ref list against the local refs, what moves, what it asks for, and every ref
// situation where git fetch would do something more (prune, follow a tag, two refs in one).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigList } from '../../shared/gitconfig.js';
import { directSetup, planFetch, refPrefixesOf, type DirectSetup, type LocalRefs, type RepoFacts } from '../../workers/direct/plan.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);
const D = 'd'.repeat(40);
const ZERO = '0'.repeat(40);

const DEFAULT_FETCH: [string, string] = ['remote.origin.fetch', '+refs/heads/*:refs/remotes/origin/*'];
const PLAIN: RepoFacts = { shallow: false, alternates: false, submodules: false };

/** A config as `git config -z --list` prints it: lowercased keys, each entry `key\nvalue\0`. */
function config(...entries: [string, string][]) {
  return parseConfigList(entries.map(([key, value]) => `${key}\n${value}\0`).join(''));
}

/** directSetup for origin with the default refspec and `entries`. */
function setupWith(...entries: [string, string][]): ReturnType<typeof directSetup> {
  return directSetup('origin', config(DEFAULT_FETCH, ...entries), PLAIN, false);
}

/** A setup the direct path accepts (the test fails if it falls back). */
function accepted(...entries: [string, string][]): DirectSetup {
  const setup = setupWith(...entries);
  assert.ok(!('fallback' in setup), `unexpected fallback: ${'fallback' in setup ? setup.fallback : ''}`);
  return setup;
}

function local(tracking: [string, string][], tags: string[] = []): LocalRefs {
  return { tracking: new Map(tracking), tags: new Set(tags) };
}

// --- directSetup ---

test('the default refspec is carried out directly: tags followed, no prune, no fsck, unpack limit 100', () => {
  assert.deepEqual(directSetup('origin', config(['remote.origin.url', 'ssh://h/r'], DEFAULT_FETCH), PLAIN, false), {
    refspecs: [{ src: 'refs/heads/*', dst: 'refs/remotes/origin/*', force: true }],
    followTags: true,
    prune: false,
    fsck: false,
    unpackLimit: 100,
  });
});

test('several branch refspecs are kept in order, each with its own force flag', () => {
  const setup = directSetup(
    'up',
    config(['remote.up.fetch', 'refs/heads/main:refs/remotes/up/main'], ['remote.up.fetch', '+refs/heads/feature/*:refs/remotes/up/f/*']),
    PLAIN,
    false,
  );
  assert.ok(!('fallback' in setup));
  assert.deepEqual(setup.refspecs, [
    { src: 'refs/heads/main', dst: 'refs/remotes/up/main', force: false },
    { src: 'refs/heads/feature/*', dst: 'refs/remotes/up/f/*', force: true },
  ]);
});

test('what git fetch would do besides moving refs, read off the repository, falls back with its cause', () => {
  const facts = (more: Partial<RepoFacts>) => ({ ...PLAIN, ...more });
  const cfg = config(DEFAULT_FETCH);
  assert.deepEqual(directSetup('origin', cfg, PLAIN, true), { fallback: 'a refspec stores into FETCH_HEAD' });
  assert.deepEqual(directSetup('origin', cfg, facts({ shallow: true }), false), { fallback: 'a shallow repository' });
  assert.deepEqual(directSetup('origin', cfg, facts({ alternates: true }), false), { fallback: 'the repository borrows objects (alternates)' });
  assert.deepEqual(directSetup('origin', cfg, facts({ submodules: true }), false), { fallback: 'the repository has submodules' });
});

test('settings of the remote or the repository that git fetch acts on fall back, each naming its cause', () => {
  assert.deepEqual(setupWith(['remote.origin.uploadpack', 'git-upload-pack --strict']), { fallback: 'remote.origin.uploadpack is set' });
  assert.deepEqual(setupWith(['remote.origin.promisor', 'true']), { fallback: 'a partial clone' });
  assert.deepEqual(setupWith(['remote.origin.partialclonefilter', 'blob:none']), { fallback: 'a partial clone' });
  assert.deepEqual(setupWith(['extensions.partialclone', 'origin']), { fallback: 'a partial clone' });
  assert.deepEqual(setupWith(['extensions.objectformat', 'sha256']), { fallback: 'object format sha256' });
  assert.deepEqual(setupWith(['protocol.version', '0']), { fallback: 'protocol.version is 0' });
  assert.deepEqual(setupWith(['protocol.version', '1']), { fallback: 'protocol.version is 1' });
  assert.deepEqual(setupWith(['remote.origin.tagopt', '--tags']), { fallback: 'remote.origin.tagOpt is --tags' });
});

test('the harmless values of those settings, and other remotes\' settings, are carried out directly', () => {
  accepted(['remote.origin.promisor', 'false']);
  accepted(['extensions.objectformat', 'sha1']);
  accepted(['extensions.objectformat', 'SHA1']);
  accepted(['protocol.version', '2']);
  accepted(['remote.upstream.uploadpack', 'x'], ['remote.upstream.promisor', 'true'], ['remote.upstream.tagopt', '--tags']);
  assert.equal(accepted(['remote.origin.tagopt', '--no-tags']).followTags, false);
});

test('a remote without a refspec, or with one that is not a branch into refs/remotes/, falls back naming the refspec', () => {
  assert.deepEqual(directSetup('origin', config(['remote.origin.url', 'ssh://h/r']), PLAIN, false), { fallback: 'no fetch refspec' });
  assert.deepEqual(directSetup('origin', config(['remote.other.fetch', '+refs/heads/*:refs/remotes/other/*']), PLAIN, false), { fallback: 'no fetch refspec' });
  const why = (spec: string) => ({ fallback: `the refspec ${JSON.stringify(spec)} is not a branch into refs/remotes/` });
  assert.deepEqual(setupWith(['remote.origin.fetch', '^refs/heads/tmp/*']), why('^refs/heads/tmp/*'));
  assert.deepEqual(directSetup('origin', config(['remote.origin.fetch', '+refs/heads/*:refs/heads/*']), PLAIN, false), why('+refs/heads/*:refs/heads/*'));
  assert.deepEqual(directSetup('origin', config(['remote.origin.fetch', 'refs/heads/main']), PLAIN, false), why('refs/heads/main'));
  assert.deepEqual(directSetup('origin', config(['remote.origin.fetch', 'refs/heads/main:']), PLAIN, false), why('refs/heads/main:'));
  assert.deepEqual(setupWith(['remote.origin.fetch', 'refs/tags/*:refs/remotes/origin/tags/*']), why('refs/tags/*:refs/remotes/origin/tags/*'));
  assert.deepEqual(setupWith(['remote.origin.fetch', 'main:refs/remotes/origin/main']), why('main:refs/remotes/origin/main'));
  assert.deepEqual(setupWith(['remote.origin.fetch', 'refs/heads/*/x:refs/remotes/origin/y']), why('refs/heads/*/x:refs/remotes/origin/y'));
});

test('fsck settings fall back only when fsck is on', () => {
  assert.deepEqual(setupWith(['fetch.fsckobjects', 'true'], ['fetch.fsck.missingemail', 'ignore']), { fallback: 'fsck settings' });
  assert.deepEqual(setupWith(['transfer.fsckobjects', 'true'], ['fsck.missingemail', 'ignore']), { fallback: 'fsck settings' });
  const off = accepted(['fetch.fsck.missingemail', 'ignore']);
  assert.equal(off.fsck, false);
  assert.equal(accepted(['fetch.fsckobjects', 'true']).fsck, true);
  assert.equal(accepted(['transfer.fsckobjects', 'yes']).fsck, true);
  assert.equal(accepted(['transfer.fsckobjects', 'true'], ['fetch.fsckobjects', 'false']).fsck, false, 'fetch.fsckObjects beats transfer.fsckObjects');
  assert.equal(accepted(['fetch.fsckobjects', 'false'], ['fetch.fsck.missingemail', 'ignore']).fsck, false);
});

test('remote.<name>.prune beats fetch.prune, either way; pruneTags, remote or global, is git fetch\'s', () => {
  const prune = (...entries: [string, string][]) => accepted(...entries).prune;
  assert.equal(prune(['fetch.prune', 'true'], ['remote.origin.prune', 'false']), false);
  assert.equal(prune(['remote.origin.prune', 'false'], ['fetch.prune', 'true']), false, 'whatever the order in the file');
  assert.equal(prune(['fetch.prune', 'false'], ['remote.origin.prune', 'true']), true);
  assert.equal(prune(['fetch.prune', 'true']), true);
  assert.equal(prune(['remote.upstream.prune', 'true']), false, 'another remote\'s setting');
  assert.equal(prune(['fetch.prune', 'true'], ['fetch.prune', 'false']), false, 'the last value wins');
  // pruneTags makes git fetch take every tag (refs/tags/*:refs/tags/*) and refuse a moved one.
  assert.deepEqual(setupWith(['fetch.prunetags', 'on']), { fallback: 'pruneTags is on' });
  assert.deepEqual(setupWith(['remote.origin.prunetags', 'true'], ['fetch.prunetags', 'false']), { fallback: 'pruneTags is on' });
  assert.deepEqual(setupWith(['fetch.prunetags', 'true'], ['remote.origin.prunetags', 'false']), accepted(), 'the remote\'s own setting wins');
  assert.deepEqual(setupWith(['remote.origin.tagopt', '--no-tags'], ['fetch.prunetags', 'true']), { fallback: 'pruneTags is on' }, 'even with --no-tags');
});

test('the ref prefixes asked for are the refspecs\' sources, plus refs/tags/ when tags are followed', () => {
  assert.deepEqual(refPrefixesOf(accepted()), ['refs/heads/', 'refs/tags/']);
  assert.deepEqual(refPrefixesOf(accepted(['remote.origin.tagopt', '--no-tags'])), ['refs/heads/']);
  const two = directSetup(
    'origin',
    config(
      ['remote.origin.fetch', 'refs/heads/main:refs/remotes/origin/main'],
      ['remote.origin.fetch', '+refs/heads/feature/*:refs/remotes/origin/feature/*'],
      ['remote.origin.fetch', '+refs/heads/feature/*:refs/remotes/origin/f/*'],
      ['remote.origin.tagopt', '--no-tags'],
    ),
    PLAIN,
    false,
  );
  assert.ok(!('fallback' in two));
  assert.deepEqual(refPrefixesOf(two), ['refs/heads/main', 'refs/heads/feature/']);
});

// --- planFetch ---

const NO_TAGS: [string, string] = ['remote.origin.tagopt', '--no-tags'];

test('a moved branch moves its tracking ref from old to new; wants the new value, has the tracking values', () => {
  const plan = planFetch(
    accepted(NO_TAGS),
    new Map([['refs/heads/main', B], ['refs/heads/dev', C]]),
    local([['refs/remotes/origin/main', A], ['refs/remotes/origin/dev', C]]),
  );
  assert.deepEqual(plan, {
    moves: [{ src: 'refs/heads/main', dst: 'refs/remotes/origin/main', old: A, new: B }],
    wants: [B],
    haves: [A, C],
  });
});

test('a new branch is a move without an old value', () => {
  const plan = planFetch(accepted(NO_TAGS), new Map([['refs/heads/main', A], ['refs/heads/new', B]]), local([['refs/remotes/origin/main', A]]));
  assert.deepEqual(plan, { moves: [{ src: 'refs/heads/new', dst: 'refs/remotes/origin/new', new: B }], wants: [B], haves: [A] });
  assert.ok('moves' in plan && !('old' in plan.moves[0]));
});

test('moves come sorted by destination; a value wanted twice is asked for once', () => {
  const plan = planFetch(
    accepted(NO_TAGS),
    new Map([['refs/heads/z', B], ['refs/heads/a', C], ['refs/heads/m', B]]),
    local([['refs/remotes/origin/z', A], ['refs/remotes/origin/m', A]]),
  );
  assert.ok('moves' in plan);
  assert.deepEqual(plan.moves.map((m) => m.dst), ['refs/remotes/origin/a', 'refs/remotes/origin/m', 'refs/remotes/origin/z']);
  assert.deepEqual(plan.wants, [C, B]);
  assert.deepEqual(plan.haves, [A]);
});

test('haves are capped at 256', () => {
  const tracking = Array.from({ length: 300 }, (_, i): [string, string] => [`refs/remotes/origin/b${i}`, (0x1000 + i).toString(16).padStart(40, 'e')]);
  const plan = planFetch(accepted(NO_TAGS), new Map([['refs/heads/b0', B]]), local(tracking));
  assert.ok('haves' in plan);
  assert.equal(plan.haves.length, 256);
  assert.deepEqual(plan.haves.slice(0, 2), [tracking[0][1], tracking[1][1]]);
});

test('when nothing moves, the plan is up to date', () => {
  assert.deepEqual(planFetch(accepted(NO_TAGS), new Map([['refs/heads/main', A]]), local([['refs/remotes/origin/main', A]])), { upToDate: true });
  assert.deepEqual(planFetch(accepted(NO_TAGS), new Map(), local([])), { upToDate: true });
  assert.deepEqual(
    planFetch(accepted(), new Map([['refs/heads/main', A], ['refs/tags/v1', B]]), local([['refs/remotes/origin/main', A]], ['refs/tags/v1'])),
    { upToDate: true },
    'a followed tag that is here already',
  );
});

test('remote refs outside the refspecs move nothing', () => {
  const setup = directSetup('origin', config(['remote.origin.fetch', '+refs/heads/main:refs/remotes/origin/main'], NO_TAGS), PLAIN, false);
  assert.ok(!('fallback' in setup));
  assert.deepEqual(planFetch(setup, new Map([['refs/heads/main', A], ['refs/heads/main2', B], ['refs/pull/1/head', C]]), local([['refs/remotes/origin/main', A]])), {
    upToDate: true,
  });
});

test('two remote refs landing in one local ref fall back; one ref through two refspecs into the same place does not', () => {
  const two = directSetup(
    'origin',
    config(DEFAULT_FETCH, ['remote.origin.fetch', '+refs/heads/release/*:refs/remotes/origin/*'], NO_TAGS),
    PLAIN,
    false,
  );
  assert.ok(!('fallback' in two));
  assert.deepEqual(planFetch(two, new Map([['refs/heads/x', A], ['refs/heads/release/x', B]]), local([])), {
    fallback: 'both refs/heads/x and refs/heads/release/x would land in refs/remotes/origin/x',
  });
  const twice = directSetup('origin', config(DEFAULT_FETCH, DEFAULT_FETCH, NO_TAGS), PLAIN, false);
  assert.ok(!('fallback' in twice));
  assert.deepEqual(planFetch(twice, new Map([['refs/heads/x', B]]), local([['refs/remotes/origin/x', A]])), {
    moves: [{ src: 'refs/heads/x', dst: 'refs/remotes/origin/x', old: A, new: B }],
    wants: [B],
    haves: [A],
  });
});

test('a tracking ref whose branch is gone falls back only when pruning, and never outside the refspecs\' destinations', () => {
  const remote = new Map([['refs/heads/main', B]]);
  const refs = local([['refs/remotes/origin/main', A], ['refs/remotes/origin/gone', C]]);
  assert.deepEqual(planFetch(accepted(NO_TAGS, ['fetch.prune', 'true']), remote, refs), { fallback: 'refs/remotes/origin/gone is to be pruned' });
  assert.deepEqual(planFetch(accepted(NO_TAGS), remote, refs), {
    moves: [{ src: 'refs/heads/main', dst: 'refs/remotes/origin/main', old: A, new: B }],
    wants: [B],
    haves: [A, C],
  });
  const outside = local([['refs/remotes/origin/main', A], ['refs/remotes/upstream/gone', C]]);
  assert.ok('moves' in planFetch(accepted(NO_TAGS, ['fetch.prune', 'true']), remote, outside));
});

test('a remote tag that is not here falls back when tags are followed, not with --no-tags', () => {
  const remote = new Map([['refs/heads/main', A], ['refs/tags/v2', B]]);
  const refs = local([['refs/remotes/origin/main', A]], ['refs/tags/v1']);
  assert.deepEqual(planFetch(accepted(), remote, refs), { fallback: 'the remote has tag refs/tags/v2, which is not here' });
  assert.deepEqual(planFetch(accepted(NO_TAGS), remote, refs), { upToDate: true });
});

test('a remote ref listed with the all-zero id falls back', () => {
  assert.deepEqual(planFetch(accepted(NO_TAGS), new Map([['refs/heads/main', A], ['refs/heads/broken', ZERO]]), local([])), {
    fallback: 'the remote lists refs/heads/broken without a value',
  });
  assert.deepEqual(planFetch(accepted(NO_TAGS), new Map([['refs/tags/v1', ZERO]]), local([])), { fallback: 'the remote lists refs/tags/v1 without a value' });
  assert.deepEqual(planFetch(accepted(NO_TAGS), new Map([['refs/heads/main', D]]), local([['refs/remotes/origin/main', D]])), { upToDate: true });
});

test('a ref name that is not plain words is left to git fetch: it would reach store.sh as data, and a line break there could add a line to the plan', () => {
  const here = local([]);
  for (const name of ['refs/heads/a\nff refs/remotes/origin/x', 'refs/heads/$(touch x)', 'refs/heads/a..b', 'refs/heads/a b', 'refs/heads/x.lock', 'refs/heads/.hidden', 'refs/heads/a\tb', 'refs/heads/trailing/']) {
    const plan = planFetch(accepted(NO_TAGS), new Map([[name, A]]), here);
    assert.ok('fallback' in plan && /is a name git fetch should judge/.test(plan.fallback), `${JSON.stringify(name)}: ${JSON.stringify(plan)}`);
  }
  const plain = planFetch(accepted(NO_TAGS), new Map([['refs/heads/feature/x-1_2.3@v+y', A]]), here);
  assert.deepEqual('moves' in plain && plain.moves.map((m) => m.dst), ['refs/remotes/origin/feature/x-1_2.3@v+y']);
});
