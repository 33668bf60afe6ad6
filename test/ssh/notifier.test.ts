// The notifier's pieces that need no server: the command line.
// and how its PINGs ride on the keepalive, against a fake channel.
// (The notifier over a real sshd, well-behaved or not, is exercised in ssh.test.ts and hostile.test.ts.)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { DEFAULT_LIMITS, notifierCommand, startNotifier } from '../../workers/ssh/notifier.js';
import type { ChannelQueue } from '../../workers/ssh/channels.js';
import { PING_LINE } from '../../shared/notifywire.js';

test('the command quotes the path as git does', () => {
  assert.equal(notifierCommand(undefined, '/srv/r.git'), `git-remote-daemon notifychanges '/srv/r.git'`);
  assert.equal(notifierCommand('git-annex-shell notifychanges', "~/it's!.git"), `git-annex-shell notifychanges '~/it'\\''s'\\!'.git'`);
  assert.equal(notifierCommand('  ', 'r'), `git-remote-daemon notifychanges 'r'`);
});

test("an answering notifier's PING rides on the keepalive's ping once it is due before the next one: no timer of its own wakes an idle thread", async (t) => {
  // A channel as far as the notifier uses it: what it writes is recorded, what it reads is emitted.
  const channel = Object.assign(new EventEmitter(), {
    stderr: new EventEmitter(),
    written: [] as string[],
    write(data: string) {
      channel.written.push(String(data));
      return true;
    },
    end() {},
    close() {},
  });
  const queue = { exec: async () => channel } as unknown as ChannelQueue;
  let ride: (() => void) | undefined;
  const keepalive = {
    quietMs: 14_000,
    onPing(fn: () => void) {
      ride = fn;
      return () => (ride = undefined);
    },
  };
  const handlers = { changed() {}, garbage() {}, log() {} };
  const limits = { ...DEFAULT_LIMITS, pingEveryMs: 60_000 };
  const started = startNotifier(queue, 'notifier', handlers, limits, keepalive);
  await new Promise((r) => setImmediate(r));
  channel.emit('data', Buffer.from('READY\n'));
  const start = await started;
  assert.equal(start.kind, 'ready');
  t.after(() => start.kind === 'ready' && start.notifier.close());
  const pings = () => channel.written.filter((w) => w === PING_LINE).length;
  assert.equal(pings(), 1, 'the first PING, at READY');
  channel.emit('data', Buffer.from('PONG\n'));
  assert.ok(ride, 'once it answers, its PINGs ride on the keepalive');
  ride();
  assert.equal(pings(), 1, 'not yet: the next keepalive ping (16 s) comes before the PING is due (60 s)');
  keepalive.quietMs = 60_000; // as if the next keepalive ping came after the PING is due
  ride();
  assert.equal(pings(), 2, 'with the keepalive ping whose successor would come too late');
  ride();
  assert.equal(pings(), 2, 'one PING out at a time');
});
