// The daemon's ssh fetches go the direct way (workers/direct/) and give way to git fetch where one
// of its rules applies, end to end: the real binary in the foreground, a real sshd, real git.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeSshFixture, push, gitEnv } from '../ssh/fixture.js';
import { eventually, startDaemon } from '../support/daemon.js';
import { git, refValue } from '../support/git.js';

test('over ssh, a push is fetched without git fetch; a new tag makes it git fetch\'s, which follows the tag', async (t) => {
  const fx = await makeSshFixture({ serverBin: { gitRemoteDaemon: true } });
  t.after(() => fx.cleanup());
  git(fx.local, 'config', 'core.sshCommand', fx.sshd.sshCommand);
  const d = startDaemon(fx.local, ['--foreground', '--verbose']);
  t.after(() => d.stop());
  await d.waitFor('CONNECTED origin', { timeoutMs: 20_000 });
  const from = d.stderr.length;
  const sha = push(fx);
  await d.waitFor('DONESYNCING origin 1', { timeoutMs: 20_000 });
  assert.equal(refValue(fx.local, 'refs/remotes/origin/main'), sha);
  const log = d.stderr.slice(from).join('\n');
  assert.match(log, /^ +[0-9a-f]{7}\.\.[0-9a-f]{7} +main +-> origin\/main$/m, 'git fetch\'s report of the move is logged');
  assert.doesNotMatch(log, /fetching with git fetch/);

  // One push with a commit and a tag on it.
  gitEnv(fx.pusher, fx.sshEnv, 'commit', '-q', '--allow-empty', '-m', 'tagged');
  gitEnv(fx.pusher, fx.sshEnv, 'tag', '-a', '-m', 'release', 'v1');
  gitEnv(fx.pusher, fx.sshEnv, 'push', '-q', 'origin', 'main', 'v1');
  const tagged = gitEnv(fx.pusher, {}, 'rev-parse', 'HEAD');
  await eventually(() => refValue(fx.local, 'refs/tags/v1') !== undefined && refValue(fx.local, 'refs/remotes/origin/main') === tagged, 'the commit and its tag fetched', 20_000);
  assert.match(d.stderr.join('\n'), /fetching with git fetch: the remote has tag refs\/tags\/v1, which is not here/);
});
