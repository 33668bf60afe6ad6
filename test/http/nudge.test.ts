// The transport's side of the webhook link: it says hello, slows its polling to a safety net while
// the receiver listens, asks the session to look now on a nudge (the one "look now" path, whose
// listing the poller then compares with), and goes back to plain polling (looking at once) when
// the receiver stops listening.

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

test('webhook on: polling every 10x the interval; a nudge asks for a look now; webhook off: back to the interval, and a look', async (t) => {
  const repos = makeRepos(t);
  const server = await startGitHttp({ root: repos.served });
  t.after(() => server.stop());
  const link = new FakeLink();
  const { connection, events } = await connect(t, repos, { url: `${server.base}/repo.git`, pollIntervalSeconds: 30, endpoint: link });
  assert.deepEqual(link.posted, [{ type: 'hello' }]);
  assert.deepEqual(events.watchings, ['polling every 30 s']);

  link.send({ type: 'status', listening: true });
  assert.deepEqual(events.watchings, ['polling every 30 s', 'webhook + polling every 300 s']);

  const before = server.requests.length;
  link.send({ type: 'nudge', forge: 'github' });
  assert.equal(events.nudges, 1, 'the nudge asks the session to look');
  assert.equal(server.requests.length, before, 'the transport lists nothing on its own');

  link.send({ type: 'status', listening: false });
  assert.equal(events.watchings.at(-1), 'polling every 30 s');
  assert.equal(events.nudges, 2, 'pushes announced while the receiver was down may have been missed: look now');

  await connection.close();
  assert.equal(link.subscribed, 0, 'close unsubscribes');
  link.send({ type: 'nudge', forge: 'github' }); // ignored after close
  assert.equal(events.nudges, 2);
});

test("the session's look is the poller's too: a move it listed is not reported again by the next poll", async (t) => {
  const repos = makeRepos(t);
  const server = await startGitHttp({ root: repos.served });
  t.after(() => server.stop());
  const { connection, events } = await connect(t, repos, { url: `${server.base}/repo.git`, pollIntervalSeconds: 1 });
  await connection.listRefs(); // the catch-up's, answered from the listing made while connecting
  const sha = push(repos);
  assert.equal((await connection.listRefs()).get('refs/heads/main'), sha, 'the look sees the push');
  const polls = events.nextLooks.length;
  await events.until('two polls after the look', () => events.nextLooks.length >= polls + 2, 10_000);
  assert.equal(events.reported('refs/heads/main'), undefined, 'no poll reported the move the look saw');
  const sha2 = push(repos);
  await events.until('a later push, reported by a poll', () => events.reported('refs/heads/main') === sha2, 10_000);
});
