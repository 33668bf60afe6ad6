// Listing refs over a held connection (git-upload-pack's v0 advertisement) against a real sshd.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ChannelQueue } from '../../workers/ssh/channels.js';
import { listRemoteRefs } from '../../workers/ssh/refs.js';
import { startSshd } from '../support/sshd.js';
import { connectClient } from './fixture.js';

const IDENTITY = { GIT_AUTHOR_NAME: 'T', GIT_AUTHOR_EMAIL: 't@e.invalid', GIT_COMMITTER_NAME: 'T', GIT_COMMITTER_EMAIL: 't@e.invalid' };

test('refs, tags without their peeled entries, an empty repository, a missing one', async (t) => {
  const sshd = await startSshd();
  t.after(() => sshd.dispose());
  const dir = await sshd.makeRepoDir();
  const repo = join(dir, 'r.git');
  const empty = join(dir, 'empty.git');
  const work = join(dir, 'work');
  await sshd.runAsUser(['git', 'init', '-q', '--bare', '-b', 'main', repo]);
  await sshd.runAsUser(['git', 'init', '-q', '--bare', '-b', 'main', empty]);
  await sshd.runAsUser(['git', 'init', '-q', '-b', 'main', work]);
  await sshd.runAsUser(['git', '-C', work, 'commit', '-q', '--allow-empty', '-m', 'one'], { env: IDENTITY });
  await sshd.runAsUser(['git', '-C', work, 'tag', '-a', '-m', 'annotated', 'v1'], { env: IDENTITY });
  await sshd.runAsUser(['git', '-C', work, 'push', '-q', repo, 'main', 'main:refs/heads/other', 'v1']);
  const head = (await sshd.runAsUser(['git', '-C', work, 'rev-parse', 'HEAD'])).stdout.trim();
  const tag = (await sshd.runAsUser(['git', '-C', work, 'rev-parse', 'v1'])).stdout.trim();

  const client = await connectClient(sshd);
  t.after(() => client.end());
  const queue = new ChannelQueue(client);
  const refs = await listRemoteRefs(queue, repo);
  assert.deepEqual(
    [...refs].sort(),
    [['HEAD', head], ['refs/heads/main', head], ['refs/heads/other', head], ['refs/tags/v1', tag]],
  );
  assert.deepEqual([...(await listRemoteRefs(queue, empty))], []);
  await assert.rejects(listRemoteRefs(queue, join(dir, 'missing.git')), /does not appear to be a git repository|not a git repository/);
  assert.equal(queue.active, 0, 'every listing closed its channel');
});
