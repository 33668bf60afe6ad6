// The notifier's pieces that need no server: the command line.
// (The notifier over a real sshd, well-behaved or not, is exercised in ssh.test.ts and hostile.test.ts.)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { notifierCommand } from '../../workers/ssh/notifier.js';

test('the command quotes the path as git does', () => {
  assert.equal(notifierCommand(undefined, '/srv/r.git'), `git-remote-daemon notifychanges '/srv/r.git'`);
  assert.equal(notifierCommand('git-annex-shell notifychanges', "~/it's!.git"), `git-annex-shell notifychanges '~/it'\\''s'\\!'.git'`);
  assert.equal(notifierCommand('  ', 'r'), `git-remote-daemon notifychanges 'r'`);
});
