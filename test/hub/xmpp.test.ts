// The XMPP login in the shared daemon, with real processes and a real Prosody: two registered
// repositories that name the same account with the same settings share one login; a notice heard
// on it nudges each repository's remote for the pushed repository; PAUSE in one leaves the login
// to the other.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventually } from '../support/daemon.js';
import { git, refValue, tempDir } from '../support/git.js';
import { alive, cli, killDaemon, logLines, pathsOf, pidFrom, waitForLog, type CliResult } from '../background/support.js';
import { readPidFile } from '../../src/background/pidfile.js';
import { readState } from '../../src/background/state.js';
import { makeDevices, ORIGIN_MAIN } from '../xmpp/devices.js';

async function ok(result: Promise<CliResult>, what: string): Promise<CliResult> {
  const r = await result;
  assert.equal(r.code, 0, `${what}: ${r.stdout}${r.stderr}`);
  return r;
}

/** The full JIDs a repository's log says the login logged in as. */
const logins = (repo: string) => logLines(pathsOf(repo)).flatMap((l) => /^# xmpp endpoint: logged in as (\S+);/.exec(l)?.[1] ?? []);

test('xmpp in the shared daemon: one login for two repositories with the same account; a notice nudges both; PAUSE in one leaves it to the other', async (t) => {
  const dev = await makeDevices(t, { smacks: true });
  // The same settings in both: b reads the password file too (makeDevices has it ask git).
  git(dev.b, 'config', 'remotedaemon.xmpp.passwordFile', git(dev.a, 'config', 'remotedaemon.xmpp.passwordFile'));
  const dir = tempDir();
  const env = { ...dev.env, GIT_CONFIG_GLOBAL: join(dir.path, 'gitconfig'), XDG_STATE_HOME: join(dir.path, 'state') };
  writeFileSync(env.GIT_CONFIG_GLOBAL, '[user]\n\tname = Test\n\temail = test@example.invalid\n');
  t.after(async () => {
    const hub = readPidFile(join(env.XDG_STATE_HOME, 'git-remote-daemon', 'pid'));
    if (hub && alive(hub.pid)) {
      process.kill(hub.pid, 'SIGKILL');
      await eventually(() => !alive(hub.pid), 'the shared daemon is gone');
    }
    for (const repo of [dev.a, dev.b]) await killDaemon(pathsOf(repo));
    dir.cleanup();
  });
  const run = (cwd: string, ...args: string[]) => cli(cwd, args, env);
  await ok(run(dev.a, 'register'), 'register a');
  await ok(run(dev.b, 'register'), 'register b');
  const hub = pidFrom((await ok(run(dev.a, 'start', '--all'), 'start --all')).stdout);
  const connected = (repo: string) => {
    const state = readState(pathsOf(repo).state);
    return state?.pid === hub && state.mode === 'running' && state.remotes.length > 0 && state.remotes.every((r) => r.connected);
  };
  await eventually(() => connected(dev.a) && connected(dev.b), 'both served and connected', 20_000);
  await waitForLog(pathsOf(dev.a), /^# xmpp endpoint: logged in as /, 1, 20_000);
  await waitForLog(pathsOf(dev.b), /^# xmpp endpoint: logged in as /, 1, 20_000);
  // One login: both repositories' logs name the same session (two logins have two resources).
  const [session] = logins(dev.a);
  assert.deepEqual([...new Set([...logins(dev.a), ...logins(dev.b)])], [session]);

  // Another device of the account announces a push: both repositories' remotes look at once.
  const sha = dev.push(dev.fx.pusher);
  await dev.send(dev.account, session!, dev.notice(sha));
  await eventually(() => refValue(dev.a, ORIGIN_MAIN) === sha && refValue(dev.b, ORIGIN_MAIN) === sha, 'both nudged by one notice', 15_000);

  // PAUSE in a: b keeps the login (no new one) and still hears notices.
  await ok(run(dev.a, 'pause'), 'pause a');
  await eventually(() => readState(pathsOf(dev.a).state)?.mode === 'paused', 'a paused');
  const second = dev.push(dev.fx.pusher);
  await dev.send(dev.account, session!, dev.notice(second));
  await eventually(() => refValue(dev.b, ORIGIN_MAIN) === second, 'b nudged while a is paused', 15_000);
  assert.deepEqual(logins(dev.b), [session], 'the same login all along');
  assert.equal(refValue(dev.a, ORIGIN_MAIN), sha, 'a, paused, looked at nothing');
  await ok(run(dev.a, 'stop', '--all'), 'stop --all');
});
