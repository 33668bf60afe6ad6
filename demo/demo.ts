// `npm run demo`: the daemon at work on throwaway repositories, with nothing to set up.
// A bare repository plays the remote, "alice" pushes to it, and the daemon keeps "bob" up to date.

import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../bin/git-remote-daemon', import.meta.url));
const root = realpathSync(mkdtempSync(join(tmpdir(), 'grd-demo-')));
const env = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Alice',
  GIT_AUTHOR_EMAIL: 'alice@example.invalid',
  GIT_COMMITTER_NAME: 'Alice',
  GIT_COMMITTER_EMAIL: 'alice@example.invalid',
  GIT_CONFIG_NOSYSTEM: '1',
};
const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
const started = Date.now();
const say = (text: string) => console.log(`${String(Date.now() - started).padStart(6)} ms  ${text}`);

function cleanup(): void {
  rmSync(root, { recursive: true, force: true });
}
process.on('exit', cleanup);

const remote = join(root, 'remote.git');
const alice = join(root, 'alice');
const bob = join(root, 'bob');
git(root, 'init', '-q', '--bare', '-b', 'main', remote);
git(root, 'init', '-q', '-b', 'main', alice);
git(alice, 'remote', 'add', 'origin', remote);
git(alice, 'commit', '-q', '--allow-empty', '-m', 'initial');
git(alice, 'push', '-q', 'origin', 'main');
git(root, 'clone', '-q', remote, bob);

console.log(`Throwaway repositories in ${root}:
  remote.git  the remote (a bare repository)
  alice/      a clone that pushes to it
  bob/        the clone the daemon keeps up to date
Lines marked "<" are the daemon's control protocol on its stdout; ">" is what we send it.
`);
say('$ git-remote-daemon --foreground      (in bob/)');
const daemon = spawn(process.execPath, [bin, '--foreground'], { cwd: bob, env, stdio: ['pipe', 'pipe', 'inherit'] });
const waiting: { match: string; resolve: () => void }[] = [];
createInterface({ input: daemon.stdout }).on('line', (line) => {
  say(`<  ${line}`);
  const i = waiting.findIndex((w) => w.match === line);
  if (i >= 0) waiting.splice(i, 1)[0].resolve();
});
const expect = (line: string) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the daemon did not say "${line}" within 10 s`)), 10_000);
    waiting.push({ match: line, resolve: () => (clearTimeout(timer), resolve()) });
  });

async function push(message: string): Promise<void> {
  git(alice, 'commit', '-q', '--allow-empty', '-m', message);
  const fetched = expect('DONESYNCING origin 1');
  say(`$ git push    (alice: "${message}")`);
  // Asynchronously, so the daemon's lines are shown the moment they come, even during the push.
  await new Promise<void>((resolve, reject) =>
    spawn('git', ['push', '-q', 'origin', 'main'], { cwd: alice, env, stdio: 'inherit' }).once('exit', (code) => (code === 0 ? resolve() : reject(new Error('git push failed')))),
  );
  say('   (git push returned)');
  await fetched;
  say(`   bob's origin/main is now: ${git(bob, 'log', '-1', '--format=%h %s', 'origin/main')}`);
}

/** Runs `git remote-daemon <command>` in bob/ and shows what it printed. */
function cli(command: string): void {
  say(`$ git remote-daemon ${command}`);
  const out = execFileSync(process.execPath, [bin, command], { cwd: bob, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  for (const line of out.trimEnd().split('\n')) console.log(`          ${line}`);
}

/** A push, then waits for the background daemon's log to record the fetch it caused. */
async function backgroundPush(message: string): Promise<void> {
  const log = join(bob, '.git', 'remote-daemon', 'log');
  const fetchesBefore = countFetches(log);
  git(alice, 'commit', '-q', '--allow-empty', '-m', message);
  say(`$ git push    (alice: "${message}")`);
  git(alice, 'push', '-q', 'origin', 'main');
  const deadline = Date.now() + 10_000;
  while (countFetches(log) === fetchesBefore) {
    if (Date.now() > deadline) throw new Error('the background daemon did not fetch within 10 s');
    await new Promise((r) => setTimeout(r, 20));
  }
  say(`   bob's origin/main is now: ${git(bob, 'log', '-1', '--format=%h %s', 'origin/main')}`);
}

function countFetches(log: string): number {
  try {
    return readFileSync(log, 'utf8').split('\n').filter((l) => l.endsWith(' DONESYNCING origin 1')).length;
  } catch {
    return 0;
  }
}

try {
  await expect('CONNECTED origin');
  await push('first change');
  await new Promise((r) => setTimeout(r, 500));
  await push('second change');
  say('>  STOP');
  daemon.stdin.write('STOP\n');
  const code = await new Promise<number | null>((resolve) => daemon.once('exit', resolve));
  say(`the daemon exited with ${code}; bob's own branch and work tree were not touched:`);
  console.log(`        bob main:        ${git(bob, 'log', '-1', '--format=%h %s', 'main')}`);
  console.log(`        bob origin/main: ${git(bob, 'log', '-1', '--format=%h %s', 'origin/main')}`);

  console.log('\nFor daily use the daemon runs in the background, one per repository:\n');
  cli('start');
  await backgroundPush('third change');
  cli('status');
  cli('stop');
  console.log(`\nRemoved ${root}.`);
} catch (err) {
  console.error(`demo failed: ${(err as Error).message}`);
  daemon.kill();
  try {
    execFileSync(process.execPath, [bin, 'stop'], { cwd: bob, env, stdio: 'ignore' });
  } catch {
    // none was running
  }
  process.exitCode = 1;
}
