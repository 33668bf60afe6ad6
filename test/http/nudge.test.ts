// The transport's side of the webhook link: it says hello, slows its polling to a safety net while
// the receiver listens, lists at once on a nudge, and goes back to plain polling (listing at once)
// when the receiver stops listening.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EndpointLink } from '../../shared/plugin.js';
import { startGitHttp } from '../support/githttp.js';
import { connect, makeRepos, push } from './fixture.js';

class FakeLink implements EndpointLink {
  posted: unknown[] = [];
  private listeners = new Set<(message: unknown) => void>();
  post(message: unknown): void {
    this.posted.push(message);
  }
  onMessage(fn: (message: unknown) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
  send(message: unknown): void {
    for (const fn of this.listeners) fn(message);
  }
  get subscribed(): number {
    return this.listeners.size;
  }
}

test('webhook on: polling every 10x the interval; a nudge lists at once; webhook off: back to the interval', async (t) => {
  const repos = makeRepos(t);
  const server = await startGitHttp({ root: repos.served });
  t.after(() => server.stop());
  const link = new FakeLink();
  const { connection, events } = await connect(t, repos, { url: `${server.base}/repo.git`, pollIntervalSeconds: 30, endpoint: link });
  assert.deepEqual(link.posted, [{ type: 'hello' }]);
  assert.deepEqual(events.watchings, ['polling every 30 s']);

  link.send({ type: 'status', listening: true });
  assert.deepEqual(events.watchings, ['polling every 30 s', 'webhook + polling every 300 s']);

  const sha = push(repos);
  const before = server.requests.length;
  link.send({ type: 'nudge', forge: 'github' });
  await events.until('the push, listed on the nudge', () => events.reported('refs/heads/main') === sha, 5_000);
  assert.equal(server.requests.length, before + 1, 'one listing per nudge');

  const sha2 = push(repos);
  link.send({ type: 'status', listening: false });
  assert.equal(events.watchings.at(-1), 'polling every 30 s');
  await events.until('the push missed while the receiver was down', () => events.reported('refs/heads/main') === sha2, 5_000);

  await connection.close();
  assert.equal(link.subscribed, 0, 'close unsubscribes');
  link.send({ type: 'nudge', forge: 'github' }); // ignored after close
});

test('nudges while a listing runs are folded into one more listing', async (t) => {
  const repos = makeRepos(t);
  const server = await startGitHttp({ root: repos.served });
  t.after(() => server.stop());
  const link = new FakeLink();
  const { events } = await connect(t, repos, { url: `${server.base}/repo.git`, pollIntervalSeconds: 60, endpoint: link });
  const before = server.requests.length;
  const sha = push(repos);
  for (let i = 0; i < 10; i++) link.send({ type: 'nudge', forge: 'gitlab' });
  await events.until('the push', () => events.reported('refs/heads/main') === sha, 5_000);
  await server.untilRequests(before + 2, 5_000);
  // Proving an absence: a stray third listing would start as soon as the second ended (well under
  // 200 ms on loopback); no event can say that one never comes.
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(server.requests.length, before + 2, 'one listing, and one more for the nudges that came during it');
});
