// The server side over a real OpenSSH sshd (test/support/sshd.ts): the notifier as a remote command,
// and the restricted shell as a forced command in authorized_keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startSshd, type Sshd } from '../support/sshd.js';
import { commit, git, tempDir } from '../support/git.js';
import { parseNotifyLine } from '../../shared/notifywire.js';
import { sqQuote } from '../../shared/kit/shell.js';
import { exitWithin, serverProcesses, sshArgv, start, stop, waitFor, type Running } from './helpers.js';

const execFileAsync = promisify(execFile);
type After = { after(fn: () => unknown): void; diagnostic(text: string): void };

async function sshd(t: After): Promise<Sshd> {
  const server = await startSshd({ serverBin: { gitRemoteDaemon: true } });
  t.after(() => server.dispose());
  return server;
}

/** A bare repository owned by the test user, in a fresh directory of its home. */
async function serverRepo(server: Sshd, name = 'r.git'): Promise<{ dir: string; repo: string }> {
  const dir = await server.makeRepoDir();
  const repo = join(dir, name);
  await server.runAsUser(['git', 'init', '-q', '--bare', '-b', 'main', repo]);
  return { dir, repo };
}

/** A local clone-to-be that pushes to `url` through the harness's ssh. */
function pusher(t: After, server: Sshd, url: string): string {
  const dir = tempDir();
  t.after(() => dir.cleanup());
  git(dir.path, 'init', '-q', '-b', 'main');
  git(dir.path, 'config', 'core.sshCommand', server.sshCommand);
  git(dir.path, 'remote', 'add', 'origin', url);
  return dir.path;
}

function push(repo: string, ...refspecs: string[]): void {
  git(repo, 'push', '-q', 'origin', ...(refspecs.length ? refspecs : ['HEAD:refs/heads/main']));
}

async function nextChanged(run: Running, what = 'a CHANGED line'): Promise<string[]> {
  const line = await run.stdout.next(10_000, what);
  const parsed = parseNotifyLine(line);
  assert.ok(parsed?.type === 'CHANGED', `expected CHANGED, got ${JSON.stringify(line)} (stderr: ${run.stderr()})`);
  return parsed.shas;
}

async function ready(t: After, argv: string[]): Promise<Running> {
  const run = start(argv);
  t.after(() => stop(run));
  assert.equal(await run.stdout.next(15_000, 'READY'), 'READY', run.stderr());
  return run;
}

/** Waits until no notifychanges process for `dir` runs on the server; returns how long that took. */
async function noNotifierLeft(server: Sshd, dir: string, timeoutMs = 3000): Promise<number> {
  const began = Date.now();
  const gone = await waitFor(async () => (await serverProcesses(server.user, `notifychanges.*${dir}`)).length === 0, timeoutMs);
  assert.ok(gone, `a notifychanges process for ${dir} is still running on the server after ${timeoutMs} ms`);
  return Date.now() - began;
}

test('over ssh: pushes, pack-refs and a two-ref push each reported; closing the channel ends the notifier', async (t) => {
  const server = await sshd(t);
  const { dir, repo } = await serverRepo(server);
  const local = pusher(t, server, server.url(repo));
  push(local, `${commit(local)}:refs/heads/main`);

  const argv = sshArgv(server, `git-remote-daemon notifychanges ${sqQuote(repo)}`);
  const run = await ready(t, argv);
  assert.ok((await serverProcesses(server.user, `notifychanges.*${dir}`)).length > 0, 'the notifier runs as the test user');

  const sha = commit(local);
  push(local);
  assert.deepEqual(await nextChanged(run), [sha]);

  await server.runAsUser(['git', '--git-dir', repo, 'pack-refs', '--all', '--prune']);
  const sha2 = commit(local);
  push(local);
  assert.deepEqual(await nextChanged(run), [sha2], 'pack-refs itself is not reported; the push after it is');

  const a = commit(local);
  const b = commit(local);
  push(local, `${a}:refs/heads/a`, `${b}:refs/heads/b`);
  assert.deepEqual((await nextChanged(run)).sort(), [a, b].sort(), 'one line for a two-ref push');

  // Closing our end of the channel (EOF) ends the remote command.
  run.child.stdin!.end();
  await exitWithin(run, 5000);
  t.diagnostic(`notifier gone ${await noNotifierLeft(server, dir)} ms after the client exited (EOF)`);
  assert.deepEqual(run.stdout.pending(), []);
});

test('over ssh: a client killed outright leaves no notifier on the server', async (t) => {
  const server = await sshd(t);
  const { dir, repo } = await serverRepo(server);
  // Also the path forms over ssh: ~/ and /~/ relative to the test user's home.
  const rel = repo.slice(server.home.length + 1);
  const runs = await Promise.all([
    ready(t, sshArgv(server, `git-remote-daemon notifychanges ${sqQuote(`~/${rel}`)}`)),
    ready(t, sshArgv(server, `git-remote-daemon notifychanges ${sqQuote(`/~/${rel}`)}`)),
    ready(t, sshArgv(server, `git-remote-daemon notifychanges ${sqQuote(rel)}`)),
  ]);
  assert.equal((await serverProcesses(server.user, `notifychanges.*${dir.slice(server.home.length + 1)}`)).length >= 3, true);
  for (const run of runs) run.child.kill('SIGKILL');
  await Promise.all(runs.map((run) => run.exited));
  t.diagnostic(`notifiers gone ${await noNotifierLeft(server, dir.slice(server.home.length + 1))} ms after the clients were killed`);
});

test('over ssh: a path that is not a repository gives one line on stderr and a non-zero exit', async (t) => {
  const server = await sshd(t);
  const dir = await server.makeRepoDir();
  const run = start(sshArgv(server, `git-remote-daemon notifychanges ${sqQuote(join(dir, 'missing.git'))}`));
  t.after(() => stop(run));
  assert.notEqual(await exitWithin(run, 10_000), 0);
  assert.match(run.stderr(), /^git-remote-daemon notifychanges: not a git repository: [^\n]+\n$/);
  assert.deepEqual(run.stdout.pending(), []);
});

/** The restricted shell's two names: the sh script itself (the documented one) and the CLI's. */
const SHELL_ENTRIES = ['git-remote-daemon-shell', 'git-remote-daemon shell'];

for (const entry of SHELL_ENTRIES) {
  test(`${entry} as a forced command: git transfers and notifychanges work, everything else is refused`, async (t) => {
    const server = await sshd(t);
    const { dir: base, repo } = await serverRepo(server);
    const { repo: secret } = await serverRepo(server, 'secret.git');
    // Lock the key down the way an admin would (the harness writes a plain key line).
    await writeFile(
      join(server.dir, 'authorized_keys'),
      `command="${entry} ${base}",restrict ${server.clientPublicKey}\n`,
    );

    // git-receive-pack: push through the shell.
    const local = pusher(t, server, server.url(repo));
    const first = commit(local);
    push(local);
    assert.equal((await server.runAsUser(['git', '--git-dir', repo, 'rev-parse', 'main'])).stdout.trim(), first);

    // git-upload-pack: clone, by absolute path and by a path relative to the base directory.
    const clones = tempDir();
    t.after(() => clones.cleanup());
    git(clones.path, '-c', `core.sshCommand=${server.sshCommand}`, 'clone', '-q', server.url(repo), 'abs');
    assert.equal(git(join(clones.path, 'abs'), 'rev-parse', 'HEAD'), first);
    const sshWithPort = `${server.sshCommand} -o Port=${server.port}`;
    git(clones.path, '-c', `core.sshCommand=${sshWithPort}`, 'clone', '-q', `${server.user}@${server.host}:r.git`, 'rel');
    assert.equal(git(join(clones.path, 'rel'), 'rev-parse', 'HEAD'), first);

    // git-upload-archive.
    const archive = await execFileAsync('git', ['-c', `core.sshCommand=${server.sshCommand}`, 'archive', '--format=tar', `--remote=${server.url(repo)}`, 'main'], {
      cwd: clones.path,
      encoding: 'buffer',
    });
    assert.ok(archive.stdout.length >= 512, 'a tar archive came back');

    // notifychanges through the shell: READY, a push reported, gone once the channel closes.
    const run = await ready(t, sshArgv(server, `notifychanges ${sqQuote(repo)}`));
    const second = commit(local);
    push(local);
    assert.deepEqual(await nextChanged(run), [second]);
    run.child.stdin!.end();
    await exitWithin(run, 5000);
    await noNotifierLeft(server, base);

    // Refused: each with exit 1 and one line from the shell on stderr.
    const refused: [string | undefined, RegExp][] = [
      [undefined, /interactive login/],
      ['id', /command not allowed/],
      ['rm -rf ~', /command not allowed/],
      [`git-upload-pack ${sqQuote(repo)}; id`, /after a quoted word/],
      [`git-upload-pack ${sqQuote(secret)}`, /repository not found/],
      [`git-upload-pack '--upload-pack=touch /tmp/grd-pwned'`, /options are not allowed/],
      [`git-upload-pack ${sqQuote(`${base}/../${secret.split('/').slice(-2).join('/')}`)}`, /repository not found/],
    ];
    for (const [command, reason] of refused) {
      const attempt = start(sshArgv(server, command));
      t.after(() => stop(attempt));
      attempt.child.stdin!.end();
      assert.equal(await exitWithin(attempt, 10_000), 1, String(command));
      assert.match(attempt.stderr(), reason, String(command));
      assert.match(attempt.stderr(), /^git-remote-daemon shell: [^\n]+\n$/, String(command));
    }
    // And git itself sees the refusal as a failed clone.
    assert.throws(() => git(clones.path, '-c', `core.sshCommand=${server.sshCommand}`, 'clone', '-q', server.url(secret), 'nope'), /repository not found/);
  });
}

for (const entry of SHELL_ENTRIES) {
  test(`${entry} with a base gives one answer for every refused path, whatever exists outside`, async (t) => {
    const server = await sshd(t);
    const { dir: base } = await serverRepo(server);
    const { repo: outsideRepo } = await serverRepo(server, 'secret.git');
    await server.runAsUser(['mkdir', join(base, 'plain')]);
    await server.runAsUser(['ln', '-s', outsideRepo, join(base, 'link.git')]);
    await writeFile(join(server.dir, 'authorized_keys'), `command="${entry} ${base}",restrict ${server.clientPublicKey}\n`);
    const refusedPaths = [
      outsideRepo, // exists, outside
      join(outsideRepo, '..', 'missing.git'), // missing, outside
      `${base}/../${outsideRepo.split('/').slice(-2).join('/')}`, // exists, outside by `..`
      '../missing.git',
      'missing.git', // missing, inside
      'plain', // no repository, inside
      'link.git', // a symlink inside pointing out
      `~${server.user}/${outsideRepo.slice(server.home.length + 1)}`, // an existing user's home
      '~root/x.git',
      '~no-such-user-grd/x.git', // a user that does not exist
      '/~root/x.git',
    ];
    const answers: string[] = [];
    for (const path of refusedPaths) {
      for (const command of [`git-upload-pack ${sqQuote(path)}`, `notifychanges ${sqQuote(path)}`]) {
        const attempt = start(sshArgv(server, command));
        t.after(() => stop(attempt));
        attempt.child.stdin!.end();
        assert.equal(await exitWithin(attempt, 10_000), 1, command);
        answers.push(attempt.stderr().replace(JSON.stringify(path), '<path>'));
      }
    }
    assert.deepEqual(new Set(answers), new Set(['git-remote-daemon shell: repository not found: <path>\n']), 'the same words for every refused path');
  });
}

for (const entry of SHELL_ENTRIES) {
  test(`${entry} with a base serves every ssh URL form git accepts`, async (t) => {
    const server = await sshd(t);
    const { dir: base, repo } = await serverRepo(server);
    await writeFile(join(server.dir, 'authorized_keys'), `command="${entry} ${base}",restrict ${server.clientPublicKey}\n`);
    const local = pusher(t, server, server.url(repo));
    const first = commit(local);
    push(local);
    const clones = tempDir();
    t.after(() => clones.cleanup());
    const sshWithPort = `${server.sshCommand} -o Port=${server.port}`;
    const at = `${server.user}@${server.host}`;
    const forms: [string, string][] = [
      [`${at}:r.git`, sshWithPort], // host:path
      [`${at}:${repo}`, sshWithPort], // host:/full/path
      [`ssh://${at}/r.git`, sshWithPort], // ssh://host/path
      [`ssh://${at}/~/r.git`, sshWithPort], // ssh://host/~/path
      [`ssh://${at}:${server.port}/r.git`, server.sshCommand], // ssh://host:port/path
      [`ssh://${at}:${server.port}/~/r`, server.sshCommand], // and git's DWIM .git suffix
      [server.url(repo), server.sshCommand], // ssh://host:port/full/path
    ];
    for (const [i, [url, ssh]] of forms.entries()) {
      git(clones.path, '-c', `core.sshCommand=${ssh}`, 'clone', '-q', url, `c${i}`);
      assert.equal(git(join(clones.path, `c${i}`), 'rev-parse', 'HEAD'), first, url);
    }
    // A push by the ssh://host/path form lands in the same repository.
    git(local, 'remote', 'set-url', 'origin', `ssh://${at}/r.git`);
    git(local, 'config', 'core.sshCommand', sshWithPort);
    const second = commit(local);
    push(local);
    assert.equal((await server.runAsUser(['git', '--git-dir', repo, 'rev-parse', 'main'])).stdout.trim(), second);
    // The notifier by the ~/ form.
    const run = await ready(t, sshArgv(server, `notifychanges '~/r.git'`));
    const third = commit(local);
    push(local);
    assert.deepEqual(await nextChanged(run), [third]);
  });
}

test('git-remote-daemon-shell over ssh: injection, traversal, symlinks and over-long commands run nothing', async (t) => {
  const server = await sshd(t);
  const { dir: base, repo } = await serverRepo(server);
  const { dir: outside, repo: secret } = await serverRepo(server, 'secret.git');
  await server.runAsUser(['ln', '-s', secret, join(base, 'link.git')]);
  await server.runAsUser(['ln', '-s', outside, join(base, 'outdir')]);
  await writeFile(join(server.dir, 'authorized_keys'), `command="git-remote-daemon-shell ${base}",restrict ${server.clientPublicKey}\n`);
  // Each attempt tries to create this file as the test user (who may write there).
  const canary = join(base, 'pwned');
  const rel = (p: string) => p.slice(base.length + 1);
  const attempts: [string, RegExp][] = [
    [`git-upload-pack ${sqQuote(repo)}; touch ${canary}`, /unexpected ";" after a quoted word/],
    [`git-upload-pack ${sqQuote(repo)} ; touch ${canary}`, /metacharacter ";"/],
    [`git-upload-pack $(touch ${canary})`, /metacharacter "\$"/],
    [`git-upload-pack 'r.git'$(touch ${canary})`, /unexpected "\$" after a quoted word/],
    [`git-upload-pack \`touch ${canary}\``, /metacharacter "`"/],
    [`git-upload-pack 'r.git'\ntouch ${canary}`, /control character 0x0a/],
    [`git-upload-pack 'r.git\ntouch ${canary}'`, /control character 0x0a/],
    [`git-upload-pack 'r.git`, /unterminated quote/],
    [`git-upload-pack 'r.git'\\''; touch ${canary}`, /unterminated quote/],
    [`git-upload-pack "r.git"; touch ${canary}`, /metacharacter "\\""/],
    [`git-upload-pack '--upload-pack=touch ${canary}' 'r.git'`, /exactly one argument/],
    [`git-upload-pack '../${rel(outside).split('/').pop()}/secret.git'`, /repository not found/],
    [`git-upload-pack ${sqQuote(`${base}/../${outside.split('/').pop()}/secret.git`)}`, /repository not found/],
    [`git-upload-pack 'link.git'`, /repository not found/],
    [`git-upload-pack 'outdir/secret.git'`, /repository not found/],
    [`notifychanges 'link.git'`, /repository not found/],
    [`git-upload-pack '${'a/'.repeat(3000)}r.git'`, /command too long/],
    [`touch ${canary}`, /command not allowed/],
  ];
  for (const [command, reason] of attempts) {
    const attempt = start(sshArgv(server, command));
    t.after(() => stop(attempt));
    attempt.child.stdin!.end();
    assert.equal(await exitWithin(attempt, 15_000), 1, command);
    assert.match(attempt.stderr(), /^git-remote-daemon shell: [^\n]+\n$/, command);
    assert.match(attempt.stderr(), reason, command);
    assert.deepEqual(attempt.stdout.pending(), [], command);
  }
  const found = await server.runAsUser(['sh', '-c', 'test -e "$1" && echo found || echo absent', 'check', canary]);
  assert.equal(found.stdout.trim(), 'absent', 'no attempt ran a command');
  // And the real repository is still served through the same key.
  const clones = tempDir();
  t.after(() => clones.cleanup());
  git(clones.path, '-c', `core.sshCommand=${server.sshCommand}`, 'clone', '-q', server.url(repo), 'ok');
});
