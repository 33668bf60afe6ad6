// The peer node in the shared daemon, with real processes: two registered repositories holding
// the same peer key (both copied the user's) get one node between them, never two of one
// identity; the other repository is told why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventually } from '../support/daemon.js';
import { git, makeFixture, tempDir } from '../support/git.js';
import { freePort } from '../support/ports.js';
import { alive, cli, killDaemon, logLines, pathsOf, pidFrom, type CliResult } from '../background/support.js';
import { readPidFile } from '../../src/background/pidfile.js';
import { readState } from '../../src/background/state.js';
import { keyFile } from '../../workers/p2p/identity.js';

async function ok(result: Promise<CliResult>, what: string): Promise<CliResult> {
  const r = await result;
  assert.equal(r.code, 0, `${what}: ${r.stdout}${r.stderr}`);
  return r;
}

test('p2p in the shared daemon: two repositories with one peer key get one node; the other is told, and gets a node once it has a key of its own', async (t) => {
  const dir = tempDir();
  const env = { GIT_CONFIG_GLOBAL: join(dir.path, 'gitconfig'), XDG_STATE_HOME: join(dir.path, 'state'), XDG_CONFIG_HOME: join(dir.path, 'config') };
  writeFileSync(env.GIT_CONFIG_GLOBAL, '[user]\n\tname = Test\n\temail = test@example.invalid\n');
  const a = makeFixture();
  const b = makeFixture();
  t.after(async () => {
    const hub = readPidFile(join(env.XDG_STATE_HOME, 'git-remote-daemon', 'pid'));
    if (hub && alive(hub.pid)) {
      process.kill(hub.pid, 'SIGKILL');
      await eventually(() => !alive(hub.pid), 'the shared daemon is gone');
    }
    for (const fx of [a, b]) {
      await killDaemon(pathsOf(fx.local));
      fx.cleanup();
    }
    dir.cleanup();
  });
  // A DHT of nobody: the node comes up on loopback and finds no one, which is all this needs.
  const bootstrap = `127.0.0.1:${await freePort()}`;
  const seed = '5e'.repeat(32);
  for (const fx of [a, b]) {
    git(fx.local, 'config', 'remotedaemon.p2p.allow', 'ab'.repeat(32));
    git(fx.local, 'config', 'remotedaemon.p2p.bootstrap', bootstrap);
    git(fx.local, 'config', 'remotedaemon.p2p.host', '127.0.0.1');
    const file = keyFile(join(fx.local, '.git'));
    mkdirSync(join(fx.local, '.git', 'remote-daemon'), { recursive: true, mode: 0o700 });
    writeFileSync(file, `# copied from the user's key\n${seed}\n`, { mode: 0o600 });
  }
  const run = (cwd: string, ...args: string[]) => cli(cwd, args, env);
  await ok(run(a.local, 'register'), 'register a');
  await ok(run(b.local, 'register'), 'register b');
  const hub = pidFrom((await ok(run(a.root, 'start', '--all'), 'start --all')).stdout);
  await eventually(() => [a, b].every((fx) => readState(pathsOf(fx.local).state)?.pid === hub), 'both served');
  const up = (fx: { local: string }) => logLines(pathsOf(fx.local)).some((l) => /^# p2p endpoint: peer node up/.test(l));
  const told = (fx: { local: string }) => logLines(pathsOf(fx.local)).find((l) => /^WARNING \* p2p endpoint: this repository's peer key .* is already used in this daemon by /.test(l));
  await eventually(() => [a, b].some(up) && [a, b].some((fx) => told(fx) !== undefined), 'one node up, the other repository told', 20_000);
  const [first, second] = up(a) ? [a, b] : [b, a];
  assert.ok(!up(second), 'no second node with the same identity');
  assert.ok(told(second)!.includes(first.local), told(second));
  assert.ok(!told(second)!.includes(seed), 'nothing of the key is said');
  assert.equal(told(first), undefined);

  // Its own key (as the message says: a new one is made) and a RELOAD: its own node.
  writeFileSync(keyFile(join(second.local, '.git')), `# its own\n${'7a'.repeat(32)}\n`, { mode: 0o600 });
  await ok(run(second.local, 'reload'), 'reload');
  await eventually(() => up(second), 'its own node up', 20_000);
  await ok(run(a.root, 'stop', '--all'), 'stop --all');
});
