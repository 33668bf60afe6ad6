// The notifier's pieces that need no server: the bounded line reader and the command line.
// (The notifier over a real sshd is exercised in ssh.test.ts.)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineReader, NotifierProtocolError, notifierCommand } from '../../workers/ssh/notifier.js';

test('lines split across chunks come out whole', () => {
  const reader = new LineReader(64);
  assert.deepEqual(reader.push(Buffer.from('REA')), []);
  assert.deepEqual(reader.push(Buffer.from('DY\nCHANGED a')), ['READY']);
  assert.deepEqual(reader.push(Buffer.from('bc\n\nx')), ['CHANGED abc', '']);
});

test('a line longer than the limit throws instead of growing', () => {
  const reader = new LineReader(16);
  reader.push(Buffer.from('0123456789'));
  assert.throws(() => reader.push(Buffer.from('0123456789')), NotifierProtocolError);
  // A complete line at the limit is fine.
  assert.deepEqual(new LineReader(16).push(Buffer.from('0123456789abcdef\n')), ['0123456789abcdef']);
  assert.throws(() => new LineReader(16).push(Buffer.from('0123456789abcdefg\n')), NotifierProtocolError);
});

test('the command quotes the path as git does', () => {
  assert.equal(notifierCommand(undefined, '/srv/r.git'), `git-remote-daemon notifychanges '/srv/r.git'`);
  assert.equal(notifierCommand('git-annex-shell notifychanges', "~/it's!.git"), `git-annex-shell notifychanges '~/it'\\''s'\\!'.git'`);
  assert.equal(notifierCommand('  ', 'r'), `git-remote-daemon notifychanges 'r'`);
});
