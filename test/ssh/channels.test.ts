// The channel queue against a real sshd: never more channels than the server allows, queued
// requests all served, a server limit below ours learned instead of failing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientChannel } from 'ssh2';
import { ChannelQueue } from '../../workers/ssh/channels.js';
import { startSshd } from '../support/sshd.js';
import { connectClient } from './fixture.js';

/** Runs `command` through the queue; resolves with its stdout once the channel closes. */
async function output(queue: ChannelQueue, command: string): Promise<string> {
  const channel: ClientChannel = await queue.exec(command);
  return new Promise((resolve) => {
    let out = '';
    channel.setEncoding('utf8').on('data', (d: string) => (out += d));
    channel.stderr.resume();
    channel.once('close', () => resolve(out));
  });
}

test('twelve commands at once stay within the limit and all succeed', async (t) => {
  const sshd = await startSshd();
  t.after(() => sshd.dispose());
  const client = await connectClient(sshd);
  t.after(() => client.end());
  const queue = new ChannelQueue(client, 4);
  let peak = 0;
  const runs = Array.from({ length: 12 }, (_, i) => {
    const run = output(queue, `sleep 0.1; echo ${i}`);
    peak = Math.max(peak, queue.active);
    return run;
  });
  assert.equal(queue.active + queue.queued, 12);
  assert.deepEqual(await Promise.all(runs), Array.from({ length: 12 }, (_, i) => `${i}\n`));
  assert.ok(peak <= 4, `peak ${peak}`);
  assert.equal(queue.active, 0);
});

test('a server MaxSessions below our limit is learned, not failed', async (t) => {
  const sshd = await startSshd({ extraConfig: 'MaxSessions 3' });
  t.after(() => sshd.dispose());
  const client = await connectClient(sshd);
  t.after(() => client.end());
  const queue = new ChannelQueue(client, 8);
  const runs = Array.from({ length: 10 }, (_, i) => output(queue, `sleep 0.2; echo ${i}`));
  assert.deepEqual(await Promise.all(runs), Array.from({ length: 10 }, (_, i) => `${i}\n`));
});

test('close() fails waiting requests and later ones', async (t) => {
  const sshd = await startSshd();
  t.after(() => sshd.dispose());
  const client = await connectClient(sshd);
  t.after(() => client.end());
  const queue = new ChannelQueue(client, 1);
  const first = output(queue, 'sleep 0.2; echo first');
  const waiting = queue.exec('echo never');
  queue.close(new Error('gone'));
  await assert.rejects(waiting, /gone/);
  await assert.rejects(queue.exec('echo later'), /gone/);
  assert.equal(await first, 'first\n');
});
