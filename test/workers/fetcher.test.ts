import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Fetcher } from '../../workers/fetcher.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeFixture, pushCommit, refValue, git } from '../support/git.js';
import { eventually } from '../support/daemon.js';

test('any number of requests during a fetch cost one more fetch, which sees the final state', async (t) => {
  const fx = makeFixture();
  t.after(fx.cleanup);
  // The remote's upload-pack waits at a gate, so the first fetch is surely running while the
  // next requests come in.
  const gate = join(fx.root, 'gate');
  const slow = join(fx.root, 'slow-upload-pack');
  writeFileSync(slow, '#!/bin/sh\nwhile [ ! -e "$GATE" ]; do sleep 0.01; done\nexec git-upload-pack "$@"\n', { mode: 0o755 });
  git(fx.local, 'config', 'remote.origin.uploadpack', slow);
  const events: string[] = [];
  const fetcher = new Fetcher({
    remote: 'origin',
    cwd: fx.local,
    plan: async () => ({ env: { GATE: gate } }),
    writeFetchHead: false,
    onStart: () => events.push('start'),
    onDone: ({ ok, stderr }) => events.push(ok ? 'ok' : `failed: ${stderr}`),
  });
  pushCommit(fx.pusher);
  const first = fetcher.request();
  await eventually(() => events.includes('start'), 'the first fetch started');
  let last = '';
  const later: Promise<void>[] = [];
  for (let i = 0; i < 5; i++) {
    last = pushCommit(fx.pusher);
    later.push(fetcher.request());
  }
  assert.equal(fetcher.queued, true);
  writeFileSync(gate, '');
  await Promise.all([first, ...later]);
  await fetcher.idle();
  assert.deepEqual(events, ['start', 'ok', 'start', 'ok']);
  assert.equal(fetcher.count, 2);
  assert.equal(refValue(fx.local, 'refs/remotes/origin/main'), last);
});

test('no fetch plan means not connected: no fetch and no SYNCING', async (t) => {
  const fx = makeFixture();
  t.after(fx.cleanup);
  const events: string[] = [];
  const fetcher = new Fetcher({ remote: 'origin', cwd: fx.local, plan: async () => undefined, writeFetchHead: false, onStart: () => events.push('start'), onDone: () => events.push('done') });
  pushCommit(fx.pusher);
  await fetcher.request();
  assert.deepEqual(events, []);
  assert.equal(fetcher.count, 0);
});

test('a failing fetch reports its stderr', async (t) => {
  const fx = makeFixture();
  t.after(fx.cleanup);
  let outcome: { ok: boolean; stderr: string } | undefined;
  const fetcher = new Fetcher({ remote: 'nonexistent', cwd: fx.local, plan: async () => ({}), writeFetchHead: false, onStart() {}, onDone: (o) => (outcome = o) });
  await fetcher.request();
  assert.equal(outcome?.ok, false);
  assert.match(outcome?.stderr ?? '', /nonexistent/);
});
