// workers/notice/link.ts: a remote's side of change notices in its worker, with MessageChannels for
// the carriers' links and real repositories (real ref watching). What a carrier may send is held
// to a nudge with a bounded reason; what is told to carriers is the remote's own ref names, read
// backwards through the fetch refspecs, and only for this remote's tracking refs.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { join } from 'node:path';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { NoticeLinks, type FromCarrier, type ToCarrier } from '../../workers/notice/link.js';
import type { RemoteSpec } from '../../shared/workerapi.js';
import { git, tempDir } from '../support/git.js';

const T = { timeout: 10_000 };
const ZERO = '0'.repeat(40);

function spec(fetchRefspecs: string[]): RemoteSpec {
  return { name: 'origin', url: '/nowhere', transport: 'local', fetchRefspecs, options: {} };
}

interface Made {
  links: NoticeLinks;
  nudges: string[];
  logs: string[];
}

function make(t: TestContext, gitDir: string, fetchRefspecs = ['+refs/heads/*:refs/remotes/origin/*']): Made {
  const nudges: string[] = [];
  const logs: string[] = [];
  const links = new NoticeLinks({ spec: spec(fetchRefspecs), repo: { cwd: gitDir, gitDir }, nudge: (why) => nudges.push(why), log: (text) => logs.push(text) });
  t.after(() => links.close());
  return { links, nudges, logs };
}

/** The watch the first link starts, once it is running (changes before it are its baseline). */
async function watching(links: NoticeLinks): Promise<void> {
  await (links as unknown as { watcher: Promise<unknown> }).watcher;
}

/** A repository with one commit; its git dir and that commit. */
function repo(t: TestContext): { dir: string; gitDir: string; head: string } {
  const d = tempDir('grd-noticelink-');
  t.after(d.cleanup);
  const dir = join(d.path, 'repo');
  git(d.path, 'init', '-q', '-b', 'main', dir);
  git(dir, 'commit', '-q', '--allow-empty', '-m', 'one');
  return { dir, gitDir: join(dir, '.git'), head: git(dir, 'rev-parse', 'HEAD') };
}

function carrier(t: TestContext): { ours: MessagePort; theirs: MessagePort } {
  const channel = new MessageChannel();
  // Listening keeps the port referenced, so that its 'close' can be awaited.
  channel.port2.on('message', () => {});
  t.after(() => channel.port2.close());
  return { ours: channel.port1, theirs: channel.port2 };
}

const nextMessage = async (port: MessagePort) => ((await once(port, 'message')) as [ToCarrier])[0];

test("a tracking ref that moves is told to every carrier by the remote's name for it; other refs are not", T, async (t) => {
  const r = repo(t);
  const { links, logs } = make(t, r.gitDir);
  const a = carrier(t);
  const b = carrier(t);
  links.link('xmpp', a.ours);
  links.link('p2p', b.ours);
  await watching(links);
  // Not this remote's tracking refs: no news. Then one that is, which must come alone.
  git(r.dir, 'update-ref', 'refs/heads/other', r.head);
  git(r.dir, 'update-ref', 'refs/remotes/upstream/main', r.head);
  git(r.dir, 'update-ref', 'refs/remotes/origin/main', r.head);
  const [toA, toB] = await Promise.all([nextMessage(a.theirs), nextMessage(b.theirs)]);
  assert.deepEqual(toA, { type: 'moved', refs: [['refs/heads/main', r.head]] });
  assert.deepEqual(toB, toA);
  assert.ok(logs.some((l) => l === `notices: tracking refs moved: refs/heads/main ${r.head.slice(0, 12)}`), logs.join('\n'));
  // A deletion is news too: the zero id.
  git(r.dir, 'update-ref', '-d', 'refs/remotes/origin/main');
  assert.deepEqual(await nextMessage(a.theirs), { type: 'moved', refs: [['refs/heads/main', ZERO]] });
});

test('a linked worktree watches the common dir, where its refs live', T, async (t) => {
  const r = repo(t);
  const worktree = join(r.dir, '..', 'wt');
  git(r.dir, 'worktree', 'add', '-q', '-b', 'side', worktree);
  const worktreeGitDir = git(worktree, 'rev-parse', '--absolute-git-dir');
  assert.notEqual(worktreeGitDir, r.gitDir);
  const { links } = make(t, worktreeGitDir);
  const c = carrier(t);
  links.link('xmpp', c.ours);
  await watching(links);
  git(r.dir, 'update-ref', 'refs/remotes/origin/topic', r.head);
  assert.deepEqual(await nextMessage(c.theirs), { type: 'moved', refs: [['refs/heads/topic', r.head]] });
});

test('a tracking ref is mapped back through each kind of refspec', (t) => {
  const { links } = make(t, '/nonexistent', [
    '^refs/heads/secret/*', // negative: maps nothing back
    'refs/heads/fetch-head-only', // no destination: nothing lands in a tracking ref
    '+refs/heads/main:refs/remotes/origin/trunk',
    'stable:refs/remotes/origin/stable', // short source: a branch
    'tags/v2:refs/remotes/origin/v2', // short source with its kind: git reads it as refs/tags/v2
    'heads/dev:refs/remotes/origin/dev',
    'refs/tags/*:refs/tags/origin/*',
    'refs/heads/*-wip:refs/remotes/origin/wip/*.draft', // star between a prefix and a suffix
    '+refs/heads/*:refs/remotes/origin/*',
  ]);
  const back = (local: string) => (links as unknown as { remoteRefFor(l: string): string | undefined }).remoteRefFor(local);
  assert.equal(back('refs/remotes/origin/trunk'), 'refs/heads/main');
  assert.equal(back('refs/remotes/origin/stable'), 'refs/heads/stable');
  assert.equal(back('refs/remotes/origin/v2'), 'refs/tags/v2');
  assert.equal(back('refs/remotes/origin/dev'), 'refs/heads/dev');
  assert.equal(back('refs/tags/origin/v1.0'), 'refs/tags/v1.0');
  assert.equal(back('refs/remotes/origin/wip/idea.draft'), 'refs/heads/idea-wip');
  assert.equal(back('refs/remotes/origin/feature/x'), 'refs/heads/feature/x');
  // The first refspec that writes the ref says where it came from.
  assert.equal(back('refs/remotes/origin/wip/not-a-draft'), 'refs/heads/wip/not-a-draft');
  for (const local of ['refs/heads/fetch-head-only', 'refs/heads/main', 'refs/remotes/upstream/main', 'refs/remotes/origin', 'refs/tags/v1.0']) {
    assert.equal(back(local), undefined, local);
  }
});

test("a carrier's nudge reaches the session named by its carrier, its reason cut to 200 characters; anything else is ignored", T, async (t) => {
  const { links, nudges } = make(t, '/nonexistent');
  const c = carrier(t);
  links.link('xmpp', c.ours);
  const said = (m: unknown) => c.theirs.postMessage(m);
  said({ type: 'hello' });
  said(null);
  said({ type: 'nudge', why: { toString: () => 'not cloneable anyway' }.toString() });
  said({ type: 'nudge', why: 'x'.repeat(5000) });
  said({ type: 'nudge', why: 42 } as unknown as FromCarrier);
  // Messages arrive in order: once the last is heard, the ones before were too.
  while (nudges.length < 3) await once(c.ours, 'message');
  assert.deepEqual(nudges, ['xmpp: not cloneable anyway', `xmpp: ${'x'.repeat(200)}`, 'xmpp: 42']);
});

test("a carrier's new link replaces and closes its old one; unlink and close close theirs, and a link after close is closed at once", T, async (t) => {
  const { links, nudges } = make(t, '/nonexistent');
  const first = carrier(t);
  const second = carrier(t);
  links.link('xmpp', first.ours);
  const firstClosed = once(first.theirs, 'close');
  links.link('xmpp', second.ours);
  await firstClosed;
  second.theirs.postMessage({ type: 'nudge', why: 'on the new link' });
  await once(second.ours, 'message');
  assert.deepEqual(nudges, ['xmpp: on the new link']);

  const secondClosed = once(second.theirs, 'close');
  links.unlink('xmpp');
  await secondClosed;

  const other = carrier(t);
  links.link('p2p', other.ours);
  const otherClosed = once(other.theirs, 'close');
  links.close();
  await otherClosed;
  const late = carrier(t);
  const lateClosed = once(late.theirs, 'close');
  links.link('xmpp', late.ours);
  await lateClosed;
});

test('no link, no watch; a git dir that cannot be watched is said in the log, not thrown', T, async (t) => {
  const d = tempDir('grd-noticelink-');
  t.after(d.cleanup);
  const { links, logs } = make(t, join(d.path, 'missing'));
  assert.equal((links as unknown as { watcher: unknown }).watcher, undefined);
  links.link('xmpp', carrier(t).ours);
  await watching(links);
  assert.equal(logs.length, 1, logs.join('\n'));
  assert.match(logs[0], /^notices: cannot watch this repository's refs: /);
});
