// deploy/: what docs/scale.md says of the container image and the StatefulSet's shard script.
// No container runtime is needed (none may be here to build the image): the shard script runs
// as it would in a pod, with a stand-in `git-remote-daemon` on PATH that records what it is asked;
// the Containerfile is read for the promises the page makes of it. Building and running the image
// is deploy/proof.sh's, by hand (podman; docs/scale.md, "Built and run here").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './support/git.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SHARD = join(ROOT, 'deploy/shard.sh');

function cksumMod(name: string, shards: number): number {
  return Number(execFileSync('cksum', { input: name, encoding: 'utf8' }).split(' ')[0]) % shards;
}

/** Runs the shard script as replica `hostname` of `shards`; returns what it registered and ran. */
function runShard(t: { after(fn: () => unknown): void }, repos: string, shards: number, hostname: string, env: Record<string, string> = {}) {
  const dir = tempDir();
  t.after(dir.cleanup);
  const bin = join(dir.path, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'git-remote-daemon'), '#!/bin/sh\necho "$*" >> "$CALLS"\n');
  chmodSync(join(bin, 'git-remote-daemon'), 0o755);
  writeFileSync(join(dir.path, 'repos'), repos);
  const calls = join(dir.path, 'calls');
  const result = spawnSync('sh', [SHARD], {
    encoding: 'utf8',
    env: {
      PATH: `${bin}:${process.env.PATH}`,
      HOME: join(dir.path, 'home'),
      HOSTNAME: hostname,
      SHARDS: String(shards),
      REPOS_FILE: join(dir.path, 'repos'),
      REPOS_DIR: join(dir.path, 'repos.d'),
      SSH_SECRET_DIR: join(dir.path, 'secret'),
      CALLS: calls,
      GIT_CONFIG_NOSYSTEM: '1',
      ...env,
    },
  });
  let lines: string[] = [];
  try {
    lines = readFileSync(calls, 'utf8').trim().split('\n');
  } catch {
    // nothing was called
  }
  return { ...result, root: dir.path, lines, registered: lines.filter((l) => l.startsWith('register ')).map((l) => l.slice(l.lastIndexOf('/') + 1)) };
}

test('the shard script gives each repository to exactly one replica, cksum(name) mod replicas, then runs the shared daemon', (t) => {
  const names = Array.from({ length: 12 }, (_, i) => `repo-${i}`);
  const repos = `# every repository of every replica\n${names.map((n) => `${n} ssh://git@example.com/${n}.git`).join('\n')}\n\nlast.git https://example.com/last.git`;
  const all = [...names, 'last.git'];
  const seen: string[] = [];
  for (let ordinal = 0; ordinal < 3; ordinal++) {
    const r = runShard(t, repos, 3, `git-remote-daemon-${ordinal}`, { METRICS_DIR: '/metrics' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.registered, all.filter((n) => cksumMod(n, 3) === ordinal));
    assert.equal(r.lines.at(-1), '--service --all', 'the shared daemon is exec-ed last');
    for (const name of r.registered) {
      const repo = join(r.root, 'repos.d', name);
      assert.equal(execFileSync('git', ['-C', repo, 'config', 'remote.origin.url'], { encoding: 'utf8' }).trim(), repos.split('\n').find((l) => l.startsWith(`${name} `))!.split(' ')[1]);
      assert.equal(execFileSync('git', ['-C', repo, 'config', 'remotedaemon.metricsFile'], { encoding: 'utf8' }).trim(), `/metrics/${name}.prom`);
    }
    seen.push(...r.registered);
  }
  assert.deepEqual([...seen].sort(), [...all].sort(), 'every repository once, over all replicas');
});

test('the shard script copies the ssh Secret with modes ssh accepts, and refuses what it cannot place', (t) => {
  const ok = runShard(t, 'a file:///nowhere\n', 1, 'x-0', {});
  assert.equal(ok.status, 0, ok.stderr);
  const secret = runShard(t, 'a file:///nowhere\n', 1, 'x-0', { SSH_SECRET_DIR: join(ROOT, 'deploy') });
  assert.equal(secret.status, 0, secret.stderr);
  assert.equal(statSync(join(secret.root, 'home/.ssh/shard.sh')).mode & 0o777, 0o600);
  assert.equal(statSync(join(secret.root, 'home/.ssh')).mode & 0o777, 0o700);

  const noOrdinal = runShard(t, 'a file:///nowhere\n', 2, 'web');
  assert.equal(noOrdinal.status, 1);
  assert.match(noOrdinal.stderr, /cannot tell this replica's number from the hostname 'web'; set SHARD/);
  const tooFew = runShard(t, 'a file:///nowhere\n', 2, 'x-2');
  assert.equal(tooFew.status, 1);
  assert.match(tooFew.stderr, /SHARDS is less than/);
  const badName = runShard(t, '../etc file:///nowhere\n', 1, 'x-0');
  assert.equal(badName.status, 1);
  assert.match(badName.stderr, /repository name '\.\.\/etc'/);
  assert.deepEqual(badName.lines, [], 'nothing registered, no daemon');
});

test('the Containerfile keeps what docs/scale.md says of the image', () => {
  const text = readFileSync(join(ROOT, 'deploy/Containerfile'), 'utf8');
  const runtime = text.slice(text.lastIndexOf('\nFROM '));
  const users = [...runtime.matchAll(/^USER\s+(\S+)/gm)].map((m) => m[1]!);
  assert.ok(users.length > 0 && !/^(root|0)(:|$)/.test(users.at(-1)!), `runs as a user of its own, not root: ${users.join(', ')}`);
  const installed = /apt-get install[^\n]*((?:\\\n[^\n]*)*)/.exec(runtime)?.[0] ?? '';
  for (const pkg of ['git', 'openssh-client', 'socat', 'tini']) assert.match(installed, new RegExp(`\\s${pkg}(\\s|$)`), `installs ${pkg}`);
  assert.match(text, /npm ci/);
  assert.match(runtime, /^ENTRYPOINT \["\/usr\/bin\/tini", "--", "git-remote-daemon", "--service", "--all"\]$/m);
  // What the package needs at run time beside dist/ (package.json "files").
  const files: string[] = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).files;
  for (const f of files.filter((f) => f.startsWith('workers/'))) assert.ok(runtime.includes(`/src/${f.replace(/\/$/, '')} `), `copies ${f}`);
});

test('deploy/proof.sh parses, and can make the base the Containerfile names (node:<major>-<suite>-slim)', () => {
  const r = spawnSync('bash', ['-n', join(ROOT, 'deploy/proof.sh')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const bases = new Set([...readFileSync(join(ROOT, 'deploy/Containerfile'), 'utf8').matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]!));
  assert.equal(bases.size, 1, `one base for both stages: ${[...bases].join(', ')}`);
  assert.match([...bases][0]!, /:\d+-[a-z]+-slim$/, 'proof.sh makes only node:<major>-<suite>-slim');
});
