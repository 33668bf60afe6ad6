// workers/fetching.ts: a remote's fetching carried out, with real git fetches between throwaway
// repositories and the worker's messages, condition and log collected: what is posted for a run
// and in what order, wishes made during a run served by one more run, git's complaint as a
// WARNING held to one line of at most 300 characters (the server chooses much of it), retries
// only over a connection (node:test's mock timers stand in for the backoff), and a stop that
// lets nothing new start.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { Fetching } from '../../workers/fetching.js';
import type { FromWorker } from '../../shared/workerapi.js';
import { git, refValue, tempDir } from '../support/git.js';

const T = { timeout: 15_000 };

interface Run {
  fetching: Fetching;
  posted: FromWorker[];
  conditions: (string | null)[];
  logs: string[];
  /** plan() calls: one per run that the machine started. */
  plans: () => number;
  /** Resolves with the next message of `type` posted from now on. */
  next(type: FromWorker['type']): Promise<FromWorker>;
}

/** A bare remote with a commit on main and an empty repository whose origin it is: four git runs, not a clone's dozen (the unit run is short of CPU). */
interface Fixture {
  root: string;
  remote: string;
  local: string;
  /** A new commit on the remote's main; its id. */
  push(): string;
}

const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

function fixture(t: TestContext): Fixture {
  const d = tempDir('grd-fetching-');
  t.after(d.cleanup);
  const root = d.path;
  const remote = join(root, 'remote.git');
  const local = join(root, 'local');
  git(root, 'init', '-q', '--bare', '-b', 'main', remote);
  git(root, 'init', '-q', '-b', 'main', local);
  appendFileSync(join(local, '.git', 'config'), `[remote "origin"]\n\turl = ${remote}\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n`);
  let n = 0;
  const push = () => {
    const parent = refValue(remote, 'refs/heads/main');
    const sha = git(remote, 'commit-tree', EMPTY_TREE, '-m', `commit ${++n}`, ...(parent ? ['-p', parent] : []));
    git(remote, 'update-ref', 'refs/heads/main', sha);
    return sha;
  };
  push();
  return { root, remote, local, push };
}

function fetching(t: TestContext, cwd: string): Run {
  const posted: FromWorker[] = [];
  const conditions: (string | null)[] = [];
  const logs: string[] = [];
  const waiting: { type: string; resolve: (m: FromWorker) => void }[] = [];
  let plans = 0;
  const f = new Fetching({
    remote: 'origin',
    cwd,
    writeFetchHead: false,
    plan: async () => {
      plans++;
      return {};
    },
    post: (m) => {
      posted.push(m);
      for (const w of waiting.filter((w) => w.type === m.type)) {
        waiting.splice(waiting.indexOf(w), 1);
        w.resolve(m);
      }
    },
    condition: (text) => conditions.push(text),
    log: (text) => logs.push(text),
  });
  t.after(() => f.stop());
  return {
    fetching: f,
    posted,
    conditions,
    logs,
    plans: () => plans,
    next: (type) => new Promise((resolve) => waiting.push({ type, resolve })),
  };
}

/** The protocol lines and results posted, in order, as short words. */
const said = (posted: FromWorker[]) =>
  posted.filter((m) => m.type !== 'fetch-progress').map((m) => (m.type === 'emit' ? `${m.line}${m.line === 'DONESYNCING' ? ` ${m.ok}` : ''}` : m.type === 'fetched' ? `fetched ${m.ok}` : m.type));

test('a wish is one fetch: SYNCING, what it fetched, DONESYNCING; git says what moved and status hears it; with nothing new, neither', T, async (t) => {
  const fx = fixture(t);
  const r = fetching(t, fx.local);
  const sha = fx.push();
  const moved = r.next('moved');
  await r.fetching.want();
  assert.deepEqual(said(r.posted), ['SYNCING', 'fetched true', 'DONESYNCING true']);
  assert.equal(refValue(fx.local, 'refs/remotes/origin/main'), sha);
  assert.deepEqual(r.conditions, [null]);
  assert.ok(r.logs.some((l) => /^git fetch: .*main\s+-> origin\/main/s.test(l)), r.logs.join('\n'));
  const m = await moved;
  assert.equal(m.type, 'moved');
  assert.match((m as { summary: string }).summary, /main/);

  // Again, with nothing new: no move posted, nothing of git logged.
  r.posted.length = 0;
  r.logs.length = 0;
  await r.fetching.want();
  assert.deepEqual(said(r.posted), ['SYNCING', 'fetched true', 'DONESYNCING true']);
  assert.deepEqual(r.logs, []);
});

test('wishes made while a fetch runs are served by one more fetch, which sees what changed meanwhile', T, async (t) => {
  const fx = fixture(t);
  const r = fetching(t, fx.local);
  const first = r.fetching.want();
  const second = r.fetching.want();
  const third = r.fetching.want();
  assert.equal(r.fetching.queued, true);
  await r.next('emit'); // the first run's SYNCING: its git is under way
  const sha = fx.push();
  await Promise.all([first, second, third]);
  assert.equal(r.plans(), 2);
  assert.equal(r.fetching.queued, false);
  assert.equal(refValue(fx.local, 'refs/remotes/origin/main'), sha);
  const lines = said(r.posted).filter((m) => m !== 'moved'); // status's summaries come when they come
  assert.deepEqual(lines, ['SYNCING', 'fetched true', 'DONESYNCING true', 'SYNCING', 'fetched true', 'DONESYNCING true']);
});

test("a failed fetch is one WARNING of git's first fatal line, cut to 300 characters; one that works clears it", T, async (t) => {
  const fx = fixture(t);
  // The path is in git's complaint: a long one makes a long line.
  const missing = join(fx.root, 'x'.repeat(400));
  git(fx.local, 'remote', 'set-url', 'origin', missing);
  const r = fetching(t, fx.local);
  await r.fetching.want();
  assert.deepEqual(said(r.posted), ['SYNCING', 'fetched false', 'DONESYNCING false']);
  assert.equal(r.conditions.length, 1);
  const warning = r.conditions[0]!;
  // git adds "Could not read from remote repository" and advice after it: the first fatal line is the one that says why.
  assert.ok(warning.startsWith(`git fetch failed: fatal: '${join(fx.root, 'x')}`), warning);
  assert.equal(warning.length, 'git fetch failed: '.length + 300 + 3);
  assert.ok(warning.endsWith('x...'), warning);
  assert.ok(!warning.includes('\n'));
  assert.ok(r.logs.some((l) => l.startsWith('git fetch: fatal:') && l.includes('Could not read from remote repository')), r.logs.join('\n'));
  // Not connected: no retry is set.
  assert.ok(!r.logs.some((l) => l.startsWith('trying the fetch again')), r.logs.join('\n'));

  git(fx.local, 'remote', 'set-url', 'origin', fx.remote);
  await r.fetching.want();
  assert.deepEqual(r.conditions, [warning, null]);
});

test('over a connection a failed fetch is tried again after the backoff; a connection that goes takes the retry with it', T, async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const fx = fixture(t);
  git(fx.local, 'remote', 'set-url', 'origin', join(fx.root, 'missing'));
  const r = fetching(t, fx.local);
  r.fetching.connection(true);
  await r.fetching.want();
  const retry = r.logs.map((l) => /^trying the fetch again in (\d+\.\d) s$/.exec(l)).find((m) => m);
  assert.ok(retry, r.logs.join('\n'));
  const ms = Number(retry[1]) * 1000;
  // The first retry waits between half and all of a second.
  assert.ok(ms >= 500 && ms <= 1000, `${ms}`);
  assert.equal(r.plans(), 1);

  git(fx.local, 'remote', 'set-url', 'origin', fx.remote);
  const done = r.next('emit');
  t.mock.timers.tick(ms + 100);
  assert.equal(r.plans(), 2, 'the retry runs when it is due');
  await done; // its SYNCING
  await r.next('emit'); // its DONESYNCING
  assert.deepEqual(r.conditions.at(-1), null);

  // Fails again, then the connection goes before the retry is due: it does not run.
  git(fx.local, 'remote', 'set-url', 'origin', join(fx.root, 'missing'));
  await r.fetching.want();
  assert.equal(r.plans(), 3);
  r.fetching.connection(false);
  t.mock.timers.tick(10 * 60_000);
  assert.equal(r.plans(), 3);
});

test('after stop nothing starts, and a wish is answered at once', T, async (t) => {
  const r = fetching(t, '/nonexistent');
  await r.fetching.stop();
  await r.fetching.want();
  assert.equal(r.plans(), 0);
  assert.deepEqual(r.posted, []);
});

test('stop during a fetch ends it, and resolves once its DONESYNCING is out', T, async (t) => {
  const fx = fixture(t);
  const r = fetching(t, fx.local);
  const wish = r.fetching.want();
  await r.next('emit'); // SYNCING: git is running
  await r.fetching.stop();
  assert.equal(said(r.posted).at(-1)?.startsWith('DONESYNCING'), true, said(r.posted).join(', '));
  await wish;
});
