// Interop with git-annex both ways, over a real sshd:
//  (a) our wire parser reads a live `git-annex-shell notifychanges` session, and our notifier sends
//      the same bytes as git-annex-shell for the same change;
//  (b) the real `git annex remotedaemon` fetches from a server whose `git-annex-shell notifychanges`
//      is answered by our notifier (a shim on the server's PATH).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSshd, type Sshd } from '../support/sshd.js';
import { commit, git, tempDir } from '../support/git.js';
import { parseNotifyLine } from '../../shared/notifywire.js';
import { sqQuote } from '../../shared/kit/shell.js';
import { LineReader, serverProcesses, sshArgv, start, stop, waitFor, type Running } from './helpers.js';

type After = { after(fn: () => unknown): void; diagnostic(text: string): void };

const IDENTITY = {
  GIT_AUTHOR_NAME: 'Server',
  GIT_AUTHOR_EMAIL: 'server@example.invalid',
  GIT_COMMITTER_NAME: 'Server',
  GIT_COMMITTER_EMAIL: 'server@example.invalid',
};

/** A bare git-annex repository owned by the test user. */
async function annexRepo(server: Sshd): Promise<{ dir: string; repo: string }> {
  const dir = await server.makeRepoDir();
  const repo = join(dir, 'r.git');
  await server.runAsUser(['git', 'init', '-q', '--bare', '-b', 'main', repo]);
  await server.runAsUser(['git', 'annex', 'init', '-q', 'server'], { cwd: repo, env: IDENTITY });
  return { dir, repo };
}

/** Points a fresh ref of the server repo at a fresh object; returns the object id. */
async function serverUpdate(server: Sshd, repo: string, ref: string): Promise<string> {
  const sha = (await server.runAsUser(['git', '--git-dir', repo, 'hash-object', '-w', '--stdin'], { input: `${ref} ${Math.random()}` })).stdout.trim();
  await server.runAsUser(['git', '--git-dir', repo, 'update-ref', ref, sha]);
  return sha;
}

/** Reads lines, all of which must parse, until a CHANGED line names `sha`; returns that raw line. */
async function lineNaming(run: Running, sha: string, who: string): Promise<string> {
  for (;;) {
    const line = await run.stdout.next(10_000, `${who}: a CHANGED line naming ${sha}`);
    const parsed = parseNotifyLine(line);
    assert.ok(parsed, `${who} sent a line our parser rejects: ${JSON.stringify(line)}`);
    if (parsed.type === 'CHANGED' && parsed.shas.includes(sha)) return line;
  }
}

test('(a) a live git-annex-shell session parses, and our notifier sends the same bytes for the same change', async (t) => {
  const server = await startSshd({ serverBin: { gitRemoteDaemon: true } });
  t.after(() => server.dispose());
  const { repo } = await annexRepo(server);
  const sessions = await Promise.all(
    [`git-annex-shell notifychanges ${sqQuote(repo)}`, `git-remote-daemon notifychanges ${sqQuote(repo)}`].map(async (command) => {
      const run = start(sshArgv(server, command));
      t.after(() => stop(run));
      const first = await run.stdout.next(15_000, `READY from ${command}`);
      assert.deepEqual(parseNotifyLine(first), { type: 'READY' }, `${command}: ${run.stderr()}`);
      return run;
    }),
  );
  const [annex, ours] = sessions as [Running, Running];
  // git-annex-shell reports the refs it finds at start-up as a change; skip past that with a sentinel.
  const sentinel = await serverUpdate(server, repo, 'refs/tags/sentinel');
  await lineNaming(annex, sentinel, 'git-annex-shell');
  await lineNaming(ours, sentinel, 'ours');
  for (let i = 0; i < 3; i++) {
    const sha = await serverUpdate(server, repo, `refs/tags/compare${i}`);
    const [theirs, mine] = await Promise.all([lineNaming(annex, sha, 'git-annex-shell'), lineNaming(ours, sha, 'ours')]);
    assert.equal(mine, theirs, 'byte for byte');
    assert.equal(mine, `CHANGED ${sha}`);
  }
});

test('(b) git annex remotedaemon fetches through a git-annex-shell shim that hands notifychanges to us', async (t) => {
  // The shim logs each hand-off to a file the test can read (the harness dir is root's).
  const logDir = mkdtempSync(join(tmpdir(), 'grd-shim-'));
  t.after(() => rmSync(logDir, { recursive: true, force: true }));
  chmodSync(logDir, 0o777);
  const handoffLog = join(logDir, 'handoffs');
  // git-annex runs `git-annex-shell 'notifychanges' '<path>' --uuid <uuid>`; we need only the path.
  const shim = [
    '#!/bin/sh',
    '# Hands notifychanges to git-remote-daemon, everything else to the real git-annex-shell.',
    'if [ "$1" = notifychanges ]; then',
    `  printf '%s\\n' "$2" >> ${handoffLog}`,
    '  exec git-remote-daemon notifychanges "$2"',
    'fi',
    'exec /usr/bin/git-annex-shell "$@"',
    '',
  ].join('\n');
  const server = await startSshd({ serverBin: { gitRemoteDaemon: true, shims: { 'git-annex-shell': shim } } });
  t.after(() => server.dispose());
  const { dir, repo } = await annexRepo(server);
  const url = server.url(repo);

  // The client: a git-annex repository with the server as its ssh remote. git-annex does not read
  // GIT_SSH_COMMAND; it takes ssh options from remote.<name>.annex-ssh-options. No connection
  // caching, so no ControlMaster process outlives the test.
  const client = tempDir();
  t.after(() => client.cleanup());
  const c = client.path;
  git(c, 'init', '-q', '-b', 'main');
  git(c, 'config', 'user.name', 'Client');
  git(c, 'config', 'user.email', 'client@example.invalid');
  git(c, 'config', 'core.sshCommand', server.sshCommand);
  git(c, 'config', 'annex.sshcaching', 'false');
  git(c, 'remote', 'add', 'origin', url);
  const sshOptions = server.sshArgs.slice(1).join(' ');
  git(c, 'config', 'remote.origin.annex-ssh-options', sshOptions);
  commit(c);
  git(c, 'push', '-q', 'origin', 'main');
  git(c, 'annex', 'init', '-q', 'client');
  git(c, 'fetch', '-q', 'origin');
  const uuid = git(c, 'config', 'remote.origin.annex-uuid');
  assert.match(uuid, /^[0-9a-f-]{36}$/, 'git-annex knows the server as an annex remote');

  // remotedaemon in its own process group, so every ssh it starts can be cleaned up with it.
  const daemon = spawn('git', ['annex', 'remotedaemon', '--foreground'], { cwd: c, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  daemon.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<void>((r) => daemon.once('exit', () => r()));
  t.after(async () => {
    try {
      process.kill(-daemon.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
    await exited;
  });
  const output = new LineReader(daemon.stdout);
  assert.equal(await output.next(20_000, 'CONNECTED'), `CONNECTED ${url}`, stderr);
  assert.ok(
    await waitFor(() => readFileSync(handoffLog, 'utf8').split('\n').includes(repo), 5000),
    'the shim handed notifychanges to git-remote-daemon',
  );
  assert.ok((await serverProcesses(server.user, `git-remote-daemon notifychanges ${dir}`)).length > 0, 'our notifier is running');

  // Someone else pushes; remotedaemon must learn of it from our CHANGED line and fetch.
  const other = tempDir();
  t.after(() => other.cleanup());
  git(other.path, '-c', `core.sshCommand=${server.sshCommand}`, 'clone', '-q', url, 'w');
  const pusher = join(other.path, 'w');
  const sha = commit(pusher);
  git(pusher, '-c', `core.sshCommand=${server.sshCommand}`, 'push', '-q', 'origin', 'HEAD:refs/heads/main');
  const began = Date.now();
  const fetched = await waitFor(() => refOf(c, 'refs/remotes/origin/main') === sha, 15_000);
  assert.ok(fetched, `remotedaemon did not fetch ${sha}; its stderr: ${stderr}`);
  t.diagnostic(`remotedaemon fetched ${Date.now() - began} ms after the push returned`);

  // Ending remotedaemon ends its ssh session, and so our notifier on the server.
  daemon.stdin.end();
  try {
    process.kill(-daemon.pid!, 'SIGTERM');
  } catch {
    // already gone
  }
  await exited;
  assert.ok(
    await waitFor(async () => (await serverProcesses(server.user, `notifychanges ${dir}`)).length === 0, 3000),
    'no notifier left on the server',
  );
});

function refOf(repo: string, ref: string): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--verify', '-q', ref], { cwd: repo, encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}
