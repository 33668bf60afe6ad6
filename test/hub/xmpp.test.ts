// The XMPP login in the shared daemon, with real processes and a real Prosody: two registered
// repositories that name the same account share one login; a notice heard on it nudges each
// repository's remote for the pushed repository; PAUSE in one leaves the login to the other; and
// when their trust lists differ, each repository's applies to it alone, both ways.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventually } from '../support/daemon.js';
import { git, refValue, tempDir } from '../support/git.js';
import { alive, cli, killDaemon, logLines, pathsOf, pidFrom, waitForLog, type CliResult } from '../background/support.js';
import { readPidFile } from '../../src/background/pidfile.js';
import { readState } from '../../src/background/state.js';
import { gitEnv } from '../ssh/fixture.js';
import { makeDevices, ORIGIN_MAIN, PASSWORD, type Devices } from '../xmpp/devices.js';

async function ok(result: Promise<CliResult>, what: string): Promise<CliResult> {
  const r = await result;
  assert.equal(r.code, 0, `${what}: ${r.stdout}${r.stderr}`);
  return r;
}

/** The full JIDs a repository's log says the login logged in as. */
const logins = (repo: string) => logLines(pathsOf(repo)).flatMap((l) => /^# xmpp endpoint: logged in as (\S+);/.exec(l)?.[1] ?? []);

/**
 * Registers both devices' repositories and starts the shared daemon with them; resolves once both
 * are served, connected and logged in, to what the test drives it with and the one login's full JID.
 */
async function sharedDaemon(t: { after(fn: () => unknown): void }, dev: Devices): Promise<{ run(cwd: string, ...args: string[]): Promise<CliResult>; session: string }> {
  // The same server and password file in both: b reads the password file too (makeDevices has it ask git).
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
  return { run, session: session! };
}

test('xmpp in the shared daemon: one login for two repositories with the same account; a notice nudges both; PAUSE in one leaves it to the other', async (t) => {
  const dev = await makeDevices(t, { smacks: true });
  const { run, session } = await sharedDaemon(t, dev);

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

/** The notice lines of a repository's log: who nudged its remote. */
const nudgedBy = (repo: string) => logLines(pathsOf(repo)).flatMap((l) => /nudged \(xmpp: notice from (\S+)\)/.exec(l)?.[1] ?? []);

/** Commits on `repo` and pushes it to the forge's `branch`: that repository's tracking ref moves, its news. */
function pushBranch(dev: Devices, repo: string, branch: string): string {
  gitEnv(repo, dev.fx.sshEnv, 'commit', '-q', '--allow-empty', '-m', `change on ${branch}`);
  gitEnv(repo, dev.fx.sshEnv, 'push', '-q', 'origin', `HEAD:refs/heads/${branch}`);
  return gitEnv(repo, dev.fx.sshEnv, 'rev-parse', 'HEAD');
}

test('xmpp in the shared daemon: repositories that trust different accounts share the login; each hears, and tells its news to, only the accounts it trusts', async (t) => {
  // Without stream management: with it, the contacts' plain @xmpp clients (listen-notices.ts) now
  // and then acknowledged more stanzas than the server sent and were thrown off (1 run in 3).
  const dev = await makeDevices(t, { smacks: false });
  const alice = await dev.xmpp.register('alice', PASSWORD);
  const bob = await dev.xmpp.register('bob', PASSWORD);
  git(dev.a, 'config', 'remotedaemon.xmpp.trust', alice);
  git(dev.b, 'config', 'remotedaemon.xmpp.trust', bob);
  // Each contact runs a daemon of its own (as far as ours can tell): told what it may be told.
  const [alices, bobs] = await Promise.all([dev.listen(alice), dev.listen(bob)]);
  const { run, session } = await sharedDaemon(t, dev);
  // The one login hears both contacts' daemons: it asked each for a subscription and was granted it.
  for (const [who, listener] of [[alice, alices], [bob, bobs]] as const) {
    await waitForLog(pathsOf(dev.a), new RegExp(`^# xmpp endpoint: ${who}/\\S+ listens for notices$`), 1, 20_000).catch((err: Error) => assert.fail(`${err.message}\n${who}'s client: ${listener.trouble}`));
  }

  // Alice's notice nudges the repository that trusts her, not the other, though both have that remote.
  const first = dev.push(dev.fx.pusher);
  await dev.send(alice, session, dev.notice(first));
  await eventually(() => refValue(dev.a, ORIGIN_MAIN) === first, 'a heard alice', 15_000);
  // Bob's, sent after hers on the same stream, nudges only b: had alice's reached b, b's log would say so before.
  const second = dev.push(dev.fx.pusher);
  await dev.send(bob, session, dev.notice(second));
  await eventually(() => refValue(dev.b, ORIGIN_MAIN) === second, 'b heard bob', 15_000);
  assert.deepEqual(nudgedBy(dev.b), [bob], 'alice never nudged b');
  // Our own account's daemons are heard by both: that notice comes after bob's to a.
  const third = dev.push(dev.fx.pusher);
  await dev.send(dev.account, session, dev.notice(third));
  await eventually(() => refValue(dev.a, ORIGIN_MAIN) === third && refValue(dev.b, ORIGIN_MAIN) === third, 'both heard our own account', 15_000);
  assert.deepEqual(nudgedBy(dev.a), [alice, dev.account], 'bob never nudged a');

  // a's news goes to alice, b's to bob, and neither to the other: each one's later news arriving
  // proves the earlier one was not coming (one stream per listener, in order).
  const fromA = pushBranch(dev, dev.a, 'from-a');
  await eventually(() => alices.notices.some((n) => n.includes(fromA)), "alice told of a's push", 15_000);
  const fromB = pushBranch(dev, dev.b, 'from-b');
  await eventually(() => bobs.notices.some((n) => n.includes(fromB)), "bob told of b's push", 15_000);
  assert.ok(!bobs.notices.some((n) => n.includes(fromA)), `bob never told of a's push: ${bobs.notices.join(' | ')}`);
  const againA = pushBranch(dev, dev.a, 'again-a');
  await eventually(() => alices.notices.some((n) => n.includes(againA)), "alice told of a's next push", 15_000);
  assert.ok(!alices.notices.some((n) => n.includes(fromB)), `alice never told of b's push: ${alices.notices.join(' | ')}`);

  // b trusts bob no more (RELOAD): no repository does, so the login no longer hears him at all.
  git(dev.b, 'config', '--unset-all', 'remotedaemon.xmpp.trust');
  await waitForLog(pathsOf(dev.b), `# xmpp endpoint: hears 1 other account(s): ${alice} (what its repositories trust)`, 1, 20_000);
  const fourth = dev.push(dev.fx.pusher);
  await dev.send(bob, session, dev.notice(fourth));
  const fifth = dev.push(dev.fx.pusher);
  await dev.send(dev.account, session, dev.notice(fifth));
  await eventually(() => refValue(dev.b, ORIGIN_MAIN) === fifth, 'b heard our own account after bob', 15_000);
  assert.deepEqual(nudgedBy(dev.b), [bob, dev.account, dev.account], 'bob, untrusted now, nudged nobody');
  await ok(run(dev.a, 'stop', '--all'), 'stop --all');
});
