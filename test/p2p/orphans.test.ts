// Nothing the daemon starts outlives it, however it dies. A `kill -9` mid-fetch, with a p2p remote
// whose peer accepted a git session and never answers (git and git-remote-p2p waiting on it) and a
// local remote whose upload-pack never answers (git fetch, a shell and its sleep waiting on it):
// afterwards no process runs in or names the test's directories (src/kit/groupwatch.ts). And a
// hand-run fetch through git-remote-p2p ends within its deadline, with a clear error, when the
// peer never answers, and at once when its git is killed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { tree } from '../../bench/procfs.js';
import { git } from '../support/git.js';
import { eventually, startDaemon } from '../support/daemon.js';
import { gitRun, makePeers } from './support.js';
import { makeRogue } from './rogue.js';

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return '';
  }
}

/** Running (a zombie has finished: only its parent has yet to hear of it). */
function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** Live processes other than this one whose working directory is under `dir` or whose command line names it. */
function strays(dir: string): string[] {
  const found: string[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid || !alive(pid)) continue;
    let cwd = '';
    try {
      cwd = readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      // gone, or not ours to read
    }
    const command = commandOf(pid);
    if (cwd.startsWith(dir) || command.includes(dir)) found.push(`${pid} ${command} (in ${cwd})`);
  }
  return found;
}

test('kill -9 of the daemon mid-fetch leaves nothing it started running: git, the peer helper\'s relay, a stuck upload-pack and its children', async (t) => {
  const p = await makePeers(t);
  const a = p.make('a', { seed: true });
  const rogue = await makeRogue(t, p, { stall: true });
  git(a, 'remote', 'add', 'stalled', rogue.address);
  // Its own history, so the daemon fetches; its upload-pack is a shell that never answers.
  const slow = p.make('slow', { seed: true });
  const uploadPack = join(p.root, 'stuck-upload-pack');
  writeFileSync(uploadPack, '#!/bin/sh\nsleep 600\n');
  chmodSync(uploadPack, 0o755);
  git(a, 'remote', 'add', 'slow', slow);
  git(a, 'config', 'remote.slow.uploadpack', uploadPack);

  const da = startDaemon(a, ['--foreground', '--verbose'], p.env);
  t.after(() => da.stop());
  const pid = da.child.pid!;
  let seen: number[] = [];
  await eventually(
    () => {
      seen = tree(pid);
      const commands = seen.map(commandOf).join('\n');
      // The thin git-remote-p2p leaves once its relay (cat and socat to the node's socket) runs, and
      // the relay is no longer below the daemon then: strays() finds it by its working directory.
      const relayed = da.stderr.some((l) => l.includes('git fetch goes over the held link'));
      return relayed && /(ls-remote|fetch) .*(p2p:|stalled)/.test(commands) && /sleep 600/.test(commands) && /fetch .*slow/.test(commands);
    },
    'the daemon runs a session to the stalled peer (git and the helper\'s relay) and the stuck upload-pack for slow',
    60_000,
  ).catch((err: Error) => assert.fail(`${err.message}:\n${seen.map(commandOf).join('\n')}\n${da.stderr.slice(-20).join('\n')}`));

  process.kill(pid, 'SIGKILL');
  await da.exited;
  await eventually(() => seen.every((p) => !alive(p)) && strays(p.root).length === 0, 'everything the daemon started is gone', 15_000).catch(() => {
    assert.fail(`left running after kill -9:\n${[...seen.filter(alive).map((p) => `${p} ${commandOf(p)}`), ...strays(p.root)].join('\n')}`);
  });
});

test('a listing hung on a peer that accepted the session and never answers ends with the connection (PAUSE)', async (t) => {
  const p = await makePeers(t);
  const a = p.make('a', { seed: true });
  const rogue = await makeRogue(t, p, { stall: true });
  git(a, 'remote', 'add', 'stalled', rogue.address);
  const da = startDaemon(a, ['--foreground', '--verbose'], p.env);
  t.after(() => da.stop());
  await da.waitFor('CONNECTED stalled', { timeoutMs: 60_000 });
  const listings = () => tree(da.child.pid!).filter((pid) => / ls-remote p2p:/.test(commandOf(pid)));
  let hung: number[] = [];
  await eventually(() => (hung = listings()).length > 0, 'the catch-up listing runs, hung on the peer', 30_000);
  da.send('PAUSE');
  await da.waitFor('DISCONNECTED stalled');
  await eventually(() => hung.every((pid) => !alive(pid)), 'the hung listing was ended with its connection', 10_000).catch(() =>
    assert.fail(`still running after PAUSE:\n${hung.filter(alive).map((pid) => `${pid} ${commandOf(pid)}`).join('\n')}`),
  );
  assert.equal(da.child.exitCode, null);
});

test('a hand-run git fetch from a peer that never answers ends within remotedaemon.p2p.connectTimeout, with a clear error', async (t) => {
  const p = await makePeers(t);
  const a = p.make('a', { seed: true });
  // Accepts the connection, never opens the git session: only the deadline ends the wait.
  const rogue = await makeRogue(t, p, { mute: true });
  git(a, 'remote', 'add', 'silent', rogue.address);
  git(a, 'config', 'remotedaemon.p2p.connectTimeout', '3');
  const started = Date.now();
  const fetched = await gitRun(a, p.env, 'fetch', 'silent');
  const took = Date.now() - started;
  assert.notEqual(fetched.code, 0);
  assert.match(fetched.stderr, /git-remote-p2p: no session with peer [0-9a-f ]+ within 3 s \(remotedaemon\.p2p\.connectTimeout\)/);
  assert.ok(took < 20_000, `took ${took} ms`);
});

test('git-remote-p2p ends when its git is killed while it connects', async (t) => {
  const p = await makePeers(t);
  const a = p.make('a', { seed: true });
  const rogue = await makeRogue(t, p, { mute: true });
  git(a, 'remote', 'add', 'silent', rogue.address);
  const fetch = spawn('git', ['fetch', 'silent'], { cwd: a, env: p.env, stdio: 'ignore' });
  let helper: number[] = [];
  await eventually(() => (helper = tree(fetch.pid!).filter((q) => /git-remote-p2p/.test(commandOf(q)))).length > 0, 'git runs git-remote-p2p', 20_000);
  process.kill(fetch.pid!, 'SIGKILL');
  // Its parent may be a `git remote-p2p` wrapper, which waits: the helper must end on its own.
  await eventually(() => helper.every((q) => !alive(q)) && strays(a).length === 0, 'the helper is gone', 10_000).catch(() =>
    assert.fail(`left running: ${strays(a).join('\n')}`),
  );
});

