// The server recipes of docs/server.md, each followed against the real server program over the
// loopback sshd: gitolite3 (with contrib/gitolite/git-remote-daemon) and git-shell (with
// contrib/git-shell/git-remote-daemon). For each: before the recipe, the server's refusal is read
// as that kind of server (the fallback WARNING's advice); after it, a push is reported at once; and
// a user without read access gets nothing (no READY, no CHANGED) and the same answer whether or
// not the repository exists. Last, the daemon itself behind git-shell, before and after.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { startSshd, type Sshd } from '../support/sshd.js';
import { commit, git, refValue, tempDir } from '../support/git.js';
import { eventually, startDaemon } from '../support/daemon.js';
import { makeSshFixture, push } from '../ssh/fixture.js';
import { parseNotifyLine } from '../../shared/notifywire.js';
import { classifyRefusal } from '../../workers/ssh/notifierrefusal.js';
import { CHECKOUT, exitWithin, sshArgv, start, stop, type Running } from './helpers.js';

type After = { after(fn: () => unknown): void; diagnostic(text: string): void };

async function sshd(t: After): Promise<Sshd> {
  const server = await startSshd({ serverBin: { gitRemoteDaemon: true } });
  t.after(() => server.dispose());
  return server;
}

/** The forced command for the harness's one client key (sshd reads the file per connection). */
async function forceCommand(server: Sshd, command: string): Promise<void> {
  await writeFile(join(server.dir, 'authorized_keys'), `command="${command.replace(/"/g, '\\"')}",restrict ${server.clientPublicKey}\n`);
}

/** Writes a file as the test user (so it owns it), mode 0755. */
async function install(server: Sshd, path: string, text: string): Promise<void> {
  await server.runAsUser(['sh', '-c', 'cat > "$1" && chmod 755 "$1"', 'install', path], { input: text });
}

/** Runs a command over ssh with stdin closed; its exit code, stdout and stderr. */
async function attempt(t: After, server: Sshd, command: string): Promise<{ code: number; stdout: string[]; stderr: string }> {
  const run = start(sshArgv(server, command));
  t.after(() => stop(run));
  run.child.stdin!.end();
  const code = await exitWithin(run, 15_000);
  return { code, stdout: run.stdout.pending(), stderr: run.stderr() };
}

async function ready(t: After, server: Sshd, command: string): Promise<Running> {
  const run = start(sshArgv(server, command));
  t.after(() => stop(run));
  assert.equal(await run.stdout.next(15_000, 'READY'), 'READY', run.stderr());
  return run;
}

/** Pushes a new commit to `url` through the server's forced command; resolves to its sha. */
function pusher(t: After, server: Sshd, url: string): () => string {
  const dir = tempDir();
  t.after(() => dir.cleanup());
  git(dir.path, 'init', '-q', '-b', 'main');
  git(dir.path, 'config', 'core.sshCommand', server.sshCommand);
  git(dir.path, 'remote', 'add', 'origin', url);
  return () => {
    const sha = commit(dir.path);
    git(dir.path, 'push', '-q', 'origin', 'HEAD:refs/heads/main');
    return sha;
  };
}

async function noticed(run: Running, sha: string): Promise<number> {
  const began = Date.now();
  const line = await run.stdout.next(5_000, 'CHANGED');
  assert.deepEqual(parseNotifyLine(line), { type: 'CHANGED', shas: [sha] }, run.stderr());
  return Date.now() - began;
}

test('gitolite: the contrib command notifies readers at once, and tells others nothing', async (t) => {
  const server = await sshd(t);
  const home = await server.makeRepoDir(); // the gitolite "user"'s home: its own, not grd-test's
  const asGitolite = { env: { HOME: home }, cwd: home, timeoutMs: 60_000 };
  await server.runAsUser(['gitolite', 'setup', '-a', 'admin'], asGitolite);
  await install(
    server,
    join(home, '.gitolite/conf/gitolite.conf'),
    'repo gitolite-admin\n    RW+ = admin\nrepo proj\n    RW+ = alice\nrepo secret\n    RW+ = admin\n',
  );
  await server.runAsUser(['gitolite', 'setup'], asGitolite);
  const shell = (user: string) => `HOME=${home} /usr/share/gitolite3/gitolite-shell ${user}`;
  await forceCommand(server, shell('alice'));

  // Before the recipe: gitolite refuses the command, and the WARNING's reading says so.
  const before = await attempt(t, server, `git-remote-daemon notifychanges 'proj.git'`);
  assert.notEqual(before.code, 0);
  assert.equal(classifyRefusal(before.code, before.stderr), 'gitolite', before.stderr);

  // The recipe: the command in LOCAL_CODE, and the two .gitolite.rc lines.
  await server.runAsUser(['mkdir', '-p', join(home, 'local/commands')]);
  await install(server, join(home, 'local/commands/git-remote-daemon'), await readFile(join(CHECKOUT, 'contrib/gitolite/git-remote-daemon'), 'utf8'));
  const rcPath = join(home, '.gitolite.rc');
  const rc = await readFile(rcPath, 'utf8');
  const edited = rc
    .replace(/# (LOCAL_CODE\s*=>\s*"\$ENV\{HOME\}\/local",)/, '$1')
    .replace(/(ENABLE => \[\n)/, "$1            'git-remote-daemon ua',\n");
  assert.notEqual(edited, rc);
  await install(server, rcPath, edited);

  // alice reads proj: READY, and a push (through gitolite too) is reported at once, by each URL form.
  const push = pusher(t, server, server.url('/proj.git'));
  push();
  for (const path of ['proj.git', '/proj.git', 'proj', '/~/proj.git']) {
    const run = await ready(t, server, `git-remote-daemon notifychanges '${path}'`);
    const ms = await noticed(run, push());
    t.diagnostic(`gitolite, ${path}: push reported ${ms} ms after it returned`);
    run.child.stdin!.end();
    await exitWithin(run, 5_000);
  }

  // Only notifychanges: other subcommands, options and extra arguments are refused.
  for (const command of ['git-remote-daemon --version', `git-remote-daemon shell '/'`, `git-remote-daemon notifychanges '--help'`, `git-remote-daemon notifychanges 'proj.git' 'x'`]) {
    const refused = await attempt(t, server, command);
    assert.notEqual(refused.code, 0, command);
    assert.deepEqual(refused.stdout, [], command);
  }

  // alice may not read secret; bob reads nothing: no READY, and the same words for a repository
  // that exists and one that does not.
  const denied = async (user: string, repo: string) => {
    await forceCommand(server, shell(user));
    const result = await attempt(t, server, `git-remote-daemon notifychanges '${repo}'`);
    assert.notEqual(result.code, 0, `${user} ${repo}`);
    assert.deepEqual(result.stdout, [], `${user} ${repo}: nothing on stdout`);
    return result.stderr.replace(repo.replace(/\.git$/, ''), '<repo>').replace(user, '<user>');
  };
  const answers = new Set([await denied('alice', 'secret.git'), await denied('alice', 'nosuch.git'), await denied('bob', 'proj.git'), await denied('bob', 'nosuch.git')]);
  assert.equal(answers.size, 1, [...answers].join(''));
  assert.match([...answers][0]!, /DENIED/);
});

test('git-shell: the contrib wrapper notifies at once and allows nothing else; unreadable repositories give nothing', async (t) => {
  const server = await sshd(t);
  const home = await server.makeRepoDir(); // the git-shell user's home
  await server.runAsUser(['git', 'init', '-q', '--bare', '-b', 'main', join(home, 'proj.git')]);
  // git's documented way to confine a key to git-shell, with a home of this test's own.
  await forceCommand(server, `HOME=${home} git-shell -c "$SSH_ORIGINAL_COMMAND"`);

  // Before the recipe: git-shell refuses, and the WARNING's reading says so.
  const before = await attempt(t, server, `git-remote-daemon notifychanges 'proj.git'`);
  assert.notEqual(before.code, 0);
  assert.equal(classifyRefusal(before.code, before.stderr), 'git-shell', before.stderr);

  // The recipe: the wrapper in ~/git-shell-commands.
  await server.runAsUser(['mkdir', join(home, 'git-shell-commands')]);
  await install(server, join(home, 'git-shell-commands/git-remote-daemon'), await readFile(join(CHECKOUT, 'contrib/git-shell/git-remote-daemon'), 'utf8'));

  const push = pusher(t, server, server.url(join(home, 'proj.git')));
  push();
  for (const path of ['proj.git', join(home, 'proj.git'), '~/proj.git']) {
    const run = await ready(t, server, `git-remote-daemon notifychanges '${path}'`);
    const ms = await noticed(run, push());
    t.diagnostic(`git-shell, ${path}: push reported ${ms} ms after it returned`);
    run.child.stdin!.end();
    await exitWithin(run, 5_000);
  }

  for (const command of ['git-remote-daemon --version', `git-remote-daemon shell '/'`, `git-remote-daemon notifychanges '--help'`, `git-remote-daemon notifychanges 'proj.git' 'x'`, 'git-remote-daemon']) {
    const refused = await attempt(t, server, command);
    assert.equal(refused.code, 1, command);
    assert.deepEqual(refused.stdout, [], command);
    assert.match(refused.stderr, /only 'notifychanges <repo>' is allowed here/, command);
  }

  // A repository this Unix user cannot read: no READY, nothing on stdout.
  const privateDir = tempDir();
  t.after(() => privateDir.cleanup());
  git(privateDir.path, 'init', '-q', '--bare', 'closed.git'); // root's, mode 0700 below
  await chmod(privateDir.path, 0o700);
  const closed = await attempt(t, server, `git-remote-daemon notifychanges '${join(privateDir.path, 'closed.git')}'`);
  assert.notEqual(closed.code, 0);
  assert.deepEqual(closed.stdout, []);
});

test('the daemon behind git-shell: the WARNING says what git-shell said and names the recipe; with it, a push is fetched at once', async (t) => {
  const fx = await makeSshFixture({ serverBin: { gitRemoteDaemon: true } });
  t.after(() => fx.cleanup());
  const home = dirname(fx.remotePath);
  await forceCommand(fx.sshd, `HOME=${home} git-shell -c "$SSH_ORIGINAL_COMMAND"`);
  git(fx.local, 'config', 'core.sshCommand', fx.sshd.sshCommand);

  const before = startDaemon(fx.local);
  t.after(() => before.stop());
  await before.waitFor('CONNECTED origin', { timeoutMs: 30_000 });
  const warning = await before.waitFor(/^WARNING origin /, { timeoutMs: 15_000 });
  t.diagnostic(warning);
  assert.match(warning, /fatal: unrecognized command/, 'what the server said');
  assert.match(warning, /git-shell/);
  assert.match(warning, /docs\/server\.md, "Behind git-shell"/, 'what to do, and where');
  assert.doesNotMatch(warning, /install git-remote-daemon/i, 'it is installed: git-shell refused it');
  before.send('STOP');
  await before.exited;

  await fx.sshd.runAsUser(['mkdir', join(home, 'git-shell-commands')]);
  await install(fx.sshd, join(home, 'git-shell-commands/git-remote-daemon'), await readFile(join(CHECKOUT, 'contrib/git-shell/git-remote-daemon'), 'utf8'));
  const after = startDaemon(fx.local);
  t.after(() => after.stop());
  await after.waitFor('CONNECTED origin', { timeoutMs: 30_000 });
  const sha = push(fx);
  const pushed = Date.now();
  await eventually(() => refValue(fx.local, 'refs/remotes/origin/main') === sha, 'fetched on notice', 10_000);
  t.diagnostic(`behind git-shell: push fetched ${Date.now() - pushed} ms after it returned`);
  assert.equal(after.lines.filter((l) => l.startsWith('WARNING origin')).length, 0, after.lines.join('\n'));
  after.send('STOP');
  await after.exited;
});
