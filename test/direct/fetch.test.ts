// The direct fetch against a real sshd, side by side with the daemon's `git fetch`: two identical
// clones, the same change on the server, one fetched each way. Where the direct path carries the
// fetch out, both clones end with the same refs and the same reflog entries; where git fetch has a
// rule the direct path does not keep (a forced update, a tag to follow, pruning, fsck settings, a
// big pack), it falls back, having moved nothing, and git fetch then does what it always did.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ChannelQueue } from '../../workers/ssh/channels.js';
import { startTunnel, type Tunnel } from '../../workers/ssh/tunnel.js';
import { directFetch } from '../../workers/direct/fetch.js';
import { directSettings } from '../../workers/direct/plan.js';
import { parseConfigList } from '../../shared/gitconfig.js';
import { runningCount } from '../../workers/children.js';
import { fetchArgs, fetchEnv } from '../../workers/fetchargs.js';
import type { DirectFetchResult } from '../../shared/transport.js';
import { connectClient, gitEnv, makeSshFixture, push, type SshFixture } from '../ssh/fixture.js';
import { tempDir } from '../support/git.js';

interface Setup {
  fx: SshFixture;
  tunnel: Tunnel;
  /** Two clones in the state fx.local is in now. */
  twins(): { plain: string; direct: string };
  plain(clone: string): Promise<{ code: number | null; stderr: string }>;
  direct(clone: string, options?: { signal?: AbortSignal; onData?: () => void }): Promise<DirectFetchResult>;
  pusher(...args: string[]): string;
}

async function setup(t: { after(fn: () => unknown): void }): Promise<Setup> {
  const fx = await makeSshFixture();
  t.after(() => fx.cleanup());
  const client = await connectClient(fx.sshd);
  t.after(() => client.end());
  const tunnel = await startTunnel({
    queue: new ChannelQueue(client),
    userHost: `${fx.sshd.user}@${fx.sshd.host}`,
    port: String(fx.sshd.port),
    fallbackSsh: fx.sshd.sshCommand,
    standbyCommand: `git-upload-pack '${fx.remotePath}'`,
    log: () => {},
  });
  t.after(() => tunnel.close());
  const dir = tempDir('grd-direct-');
  t.after(() => dir.cleanup());
  let n = 0;
  return {
    fx,
    tunnel,
    twins() {
      n++;
      const plain = join(dir.path, `plain-${n}`);
      const direct = join(dir.path, `direct-${n}`);
      cpSync(fx.local, plain, { recursive: true });
      cpSync(fx.local, direct, { recursive: true });
      return { plain, direct };
    },
    plain: (clone) => runGit(clone, { ...tunnel.env, ...fetchEnv('origin') }, fetchArgs({ remote: 'origin', writeFetchHead: false })),
    direct: (clone, { signal = new AbortController().signal, onData = () => {} } = {}) =>
      directFetch(
        { remote: 'origin', url: fx.url, cwd: clone, gitDir: join(clone, '.git'), writeFetchHead: false, signal, onProgress: () => {}, onData },
        // As the ssh plugin reads them when the daemon loads the config.
        directSettings('origin', parseConfigList(gitEnv(clone, {}, 'config', '-z', '--list'))),
        () => tunnel.openUploadPack(),
      ),
    pusher: (...args) => gitEnv(fx.pusher, fx.sshEnv, ...args),
  };
}

function runGit(cwd: string, env: Record<string, string>, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { cwd, env: { ...process.env, GIT_TERMINAL_PROMPT: '0', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stderr }));
  });
}

/** Every ref with its value, and each tracking ref's reflog (value and message, newest first). */
function state(repo: string): string {
  const refs = gitEnv(repo, {}, 'for-each-ref', '--format=%(objectname) %(refname)');
  const logs = gitEnv(repo, {}, 'for-each-ref', '--format=%(refname)', 'refs/remotes/origin/')
    .split('\n')
    .filter((r) => r && !r.endsWith('/HEAD'))
    .map((ref) => `${ref}:\n${gitEnv(repo, {}, 'reflog', 'show', '--format=%H %gs', ref)}`);
  return [refs, ...logs].join('\n');
}

function carried(result: DirectFetchResult): string {
  assert.ok(result.carried, `the direct path fell back: ${result.carried ? '' : result.why}`);
  return result.report;
}

function fellBack(result: DirectFetchResult, why: RegExp): void {
  assert.equal(result.carried, false, 'the direct path carried it out');
  assert.match(result.carried ? '' : result.why, why);
}

test('a branch moved forward and a new one: the same refs and reflog entries as git fetch, and git fetch\'s report', async (t) => {
  const s = await setup(t);
  const { plain, direct } = s.twins();
  const main = push(s.fx);
  const topic = push(s.fx, 'topic');
  assert.equal((await s.plain(plain)).code, 0);
  const report = carried(await s.direct(direct));
  assert.equal(state(direct), state(plain));
  assert.equal(gitEnv(direct, {}, 'rev-parse', 'refs/remotes/origin/main'), main);
  assert.equal(gitEnv(direct, {}, 'rev-parse', 'refs/remotes/origin/topic'), topic);
  assert.match(report, /^From .*\n {3}[0-9a-f]{7}\.\.[0-9a-f]{7} {2}main {2}-> origin\/main\n \* \[new branch\] {6}topic -> origin\/topic$/);
  assert.equal(gitEnv(direct, {}, 'fsck', '--strict', '--no-progress'), '');
  // Nothing left to fetch: carried out, nothing said, nothing moved.
  const again = state(direct);
  assert.equal(carried(await s.direct(direct)), '');
  assert.equal(state(direct), again);
});

test('several branches in one push, moved and new: the same refs and reflogs as git fetch', async (t) => {
  const s = await setup(t);
  push(s.fx, 'a');
  push(s.fx, 'b');
  gitEnv(s.fx.local, s.fx.sshEnv, 'fetch', '-q', 'origin');
  const { plain, direct } = s.twins();
  for (const branch of ['a', 'b', 'c']) {
    s.pusher('checkout', '-q', '-B', branch, `origin/${branch === 'c' ? 'main' : branch}`);
    s.pusher('commit', '-q', '--allow-empty', '-m', `on ${branch}`);
  }
  s.pusher('push', '-q', 'origin', 'a', 'b', 'c');
  assert.equal((await s.plain(plain)).code, 0);
  const report = carried(await s.direct(direct));
  assert.equal(state(direct), state(plain));
  assert.equal(report.split('\n').length, 4, report);
});

test('a rewritten branch is left to git fetch, with or without + in the refspec; nothing moved', async (t) => {
  const s = await setup(t);
  push(s.fx);
  gitEnv(s.fx.local, s.fx.sshEnv, 'fetch', '-q', 'origin');
  const { plain, direct } = s.twins();
  s.pusher('reset', '-q', '--hard', 'HEAD~1');
  s.pusher('commit', '-q', '--allow-empty', '-m', 'rewritten');
  s.pusher('push', '-q', '--force', 'origin', 'main');
  const before = state(direct);
  fellBack(await s.direct(direct), /refs\/remotes\/origin\/main is not a fast-forward/);
  assert.equal(state(direct), before);
  gitEnv(direct, {}, 'config', 'remote.origin.fetch', 'refs/heads/*:refs/remotes/origin/*');
  fellBack(await s.direct(direct), /not a fast-forward/);
  assert.equal(state(direct), before);
  assert.equal((await s.plain(plain)).code, 0, 'git fetch takes it (+)');
});

test('a new annotated tag is left to git fetch (it follows tags); with tagOpt --no-tags the branch is carried out and the tag stays there', async (t) => {
  const s = await setup(t);
  const { plain, direct } = s.twins();
  push(s.fx);
  s.pusher('tag', '-a', '-m', 'release', 'v1');
  s.pusher('push', '-q', 'origin', 'v1');
  fellBack(await s.direct(direct), /the remote has tag refs\/tags\/v1/);
  for (const clone of [plain, direct]) gitEnv(clone, {}, 'config', 'remote.origin.tagOpt', '--no-tags');
  assert.equal((await s.plain(plain)).code, 0);
  carried(await s.direct(direct));
  assert.equal(state(direct), state(plain));
  assert.doesNotMatch(state(direct), /refs\/tags\/v1/);
});

test('a deleted branch: pruning is git fetch\'s; without prune the tracking ref stays, as with git fetch', async (t) => {
  const s = await setup(t);
  push(s.fx, 'gone');
  gitEnv(s.fx.local, s.fx.sshEnv, 'fetch', '-q', 'origin');
  const { plain, direct } = s.twins();
  s.pusher('push', '-q', 'origin', ':gone');
  push(s.fx);
  assert.equal((await s.plain(plain)).code, 0);
  carried(await s.direct(direct));
  assert.equal(state(direct), state(plain));
  assert.match(state(direct), /refs\/remotes\/origin\/gone/);
  gitEnv(direct, {}, 'config', 'fetch.prune', 'true');
  fellBack(await s.direct(direct), /refs\/remotes\/origin\/gone is to be pruned/);
});

test('transfer.fsckObjects: a malformed commit is refused by unpack-objects --strict, falls back, and nothing moves; a pack at the unpack limit is git fetch\'s', async (t) => {
  const s = await setup(t);
  const { direct } = s.twins();
  gitEnv(direct, {}, 'config', 'transfer.fsckObjects', 'true');
  // A commit whose author line has no email: fsck's missingEmail.
  const tree = s.pusher('rev-parse', 'HEAD^{tree}');
  const parent = s.pusher('rev-parse', 'HEAD');
  const bad = join(s.fx.pusher, '.git', 'bad-commit');
  writeFileSync(bad, `tree ${tree}\nparent ${parent}\nauthor Nobody 1700000000 +0000\ncommitter Nobody <n@example.invalid> 1700000000 +0000\n\nbad\n`);
  const sha = s.pusher('hash-object', '-t', 'commit', '-w', '--literally', bad);
  s.pusher('push', '-q', 'origin', `${sha}:refs/heads/main`);
  const before = state(direct);
  fellBack(await s.direct(direct), /^the pack did not unpack: .*fsck error/);
  assert.equal(state(direct), before);
  gitEnv(direct, {}, 'config', 'transfer.fsckObjects', 'false');
  gitEnv(direct, {}, 'config', 'fetch.unpackLimit', '1');
  fellBack(await s.direct(direct), /a pack of 1 objects \(git fetch keeps it as a pack\)/);
  assert.equal(state(direct), before);
});

test('a ref update git refuses (a reference-transaction hook says no) falls back and moves nothing: the hook runs as for git fetch', async (t) => {
  const s = await setup(t);
  const { direct } = s.twins();
  push(s.fx);
  const before = state(direct);
  writeFileSync(join(direct, '.git', 'hooks', 'reference-transaction'), '#!/bin/sh\n[ "$1" = prepared ] && { echo "hook: no" >&2; exit 1; }\nexit 0\n', { mode: 0o755 });
  fellBack(await s.direct(direct), /^a ref could not be moved: .*aborted by hook/);
  assert.equal(state(direct), before);
});

test('a fetch ended by its signal once the server answers moves nothing, rejects with the reason, and leaves no git process', async (t) => {
  const s = await setup(t);
  const { direct } = s.twins();
  push(s.fx);
  const before = state(direct);
  const controller = new AbortController();
  await assert.rejects(s.direct(direct, { signal: controller.signal, onData: () => controller.abort(new Error('stopped')) }), /stopped/);
  assert.equal(state(direct), before);
  assert.equal(runningCount(), 0);
  // The next fetch over the same connection works.
  carried(await s.direct(direct));
});
