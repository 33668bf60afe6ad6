// Listing refs over a held connection (git-upload-pack's v0 advertisement) against a real sshd.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ChannelQueue } from '../../workers/ssh/channels.js';
import { MAX_ADVERTISEMENT_BYTES, listRemoteRefs } from '../../workers/ssh/listrefs.js';
import { WORKER_RESOURCE_LIMITS } from '../../src/supervisor.js';
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

test('the advertisement limit fits the worker heap, and a bigger advertisement is refused', async (t) => {
  // The parsed refs take ~1.5 times the advertisement on the heap (330k refs, 27.6 MiB -> 39 MiB),
  // and the session keeps the previous listing while comparing: a limit the worker cannot hold
  // would end in the worker dying of its heap cap instead of a clear error.
  assert.ok(
    MAX_ADVERTISEMENT_BYTES * 4 <= WORKER_RESOURCE_LIMITS.maxOldGenerationSizeMb * 2 ** 20,
    `${MAX_ADVERTISEMENT_BYTES / 2 ** 20} MiB of refs in a worker capped at ${WORKER_RESOURCE_LIMITS.maxOldGenerationSizeMb} MiB`,
  );

  // A well-formed advertisement just over the limit, from a stand-in git-upload-pack.
  const line = 100; // bytes per pkt-line below
  const refs = Math.ceil(MAX_ADVERTISEMENT_BYTES / line) + 1;
  const shim = [
    '#!/bin/sh',
    `exec awk 'BEGIN { for (i = 0; i < ${refs}; i++) printf "0064%040d refs/heads/branch-%036d\\n", i, i; printf "0000" }'`,
    '',
  ].join('\n');
  const sshd = await startSshd({ serverBin: { shims: { 'git-upload-pack': shim } } });
  t.after(() => sshd.dispose());
  const dir = await sshd.makeRepoDir();
  const client = await connectClient(sshd);
  t.after(() => client.end());
  const queue = new ChannelQueue(client);
  await assert.rejects(listRemoteRefs(queue, join(dir, 'r.git')), { name: 'RefListError', message: /too large/ });
  assert.equal(queue.active, 0, 'the listing closed its channel');
});
