import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Fetcher } from '../../workers/fetcher.js';
import { makeFixture, pushCommit, refValue } from '../support/git.js';

test('any number of requests during a fetch cost one more fetch, which sees the final state', async (t) => {
  const fx = makeFixture();
  t.after(fx.cleanup);
  const events: string[] = [];
  const fetcher = new Fetcher({
    remote: 'origin',
    cwd: fx.local,
    env: async () => ({}),
    writeFetchHead: false,
    onStart: () => events.push('start'),
    onDone: ({ ok }) => events.push(ok ? 'ok' : 'failed'),
  });
  const first = fetcher.request();
  let last = '';
  const later: Promise<void>[] = [];
  for (let i = 0; i < 10; i++) {
    last = pushCommit(fx.pusher);
    later.push(fetcher.request());
  }
  await Promise.all([first, ...later]);
  await fetcher.idle();
  assert.equal(refValue(fx.local, 'refs/remotes/origin/main'), last);
  assert.ok(fetcher.count <= 11 && events.filter((e) => e === 'start').length === fetcher.count);
  assert.deepEqual(events.filter((e) => e !== 'start' && e !== 'ok'), []);
  // Requests made while one runs and one waits fold into the waiting one.
  const a = fetcher.request();
  const b = fetcher.request();
  const c = fetcher.request();
  const d = fetcher.request();
  const before = fetcher.count;
  await Promise.all([a, b, c, d]);
  assert.equal(fetcher.count - before + 1, 2, 'four requests at once: one fetch plus one queued');
});

test('a failing fetch reports its stderr', async (t) => {
  const fx = makeFixture();
  t.after(fx.cleanup);
  let outcome: { ok: boolean; stderr: string } | undefined;
  const fetcher = new Fetcher({ remote: 'nonexistent', cwd: fx.local, env: async () => ({}), writeFetchHead: false, onStart() {}, onDone: (o) => (outcome = o) });
  await fetcher.request();
  assert.equal(outcome?.ok, false);
  assert.match(outcome?.stderr ?? '', /nonexistent/);
});
