// The command line as a person meets it, through bin/git-remote-daemon in a child process with its
// own HOME and git config: every command, in the situations where it cannot do its job, says so in
// one line on stderr (never a stack trace) and exits with the code the README's table documents;
// misspellings get a suggestion; `-C <dir>` works like git's; `fetch` refuses unknown remotes at
// once and, with --wait, says how the fetch went.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN } from './support/daemon.js';
import { git, makeFixture, tempDir, type Fixture } from './support/git.js';
import { killDaemon, pathsOf } from './background/support.js';

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A HOME and a global git config of the test's own, so nothing of the machine's applies. */
function hermetic(root: string): NodeJS.ProcessEnv {
  const home = join(root, 'home');
  mkdirSync(home, { recursive: true });
  writeFileSync(join(home, 'gitconfig'), '');
  return { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), GIT_CONFIG_GLOBAL: join(home, 'gitconfig'), GIT_CONFIG_NOSYSTEM: '1' };
}

function run(cwd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    child.once('error', reject);
    // 'close': a daemon started in the background must not hold our pipes.
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The promise for every failure: one line on stderr that names the program, no stack, the documented code. */
function assertOneLineFailure(r: Result, code: number, what: string, match?: RegExp): void {
  assert.equal(r.code, code, `${what}: exit code ${r.code}, stderr: ${r.stderr}`);
  assert.match(r.stderr, /^git-remote-daemon[ :][^\n]*\n$/, `${what}: not one line: ${JSON.stringify(r.stderr)}`);
  assert.doesNotMatch(r.stderr, /^\s+at |Node\.js v\d/m, `${what}: a stack trace`);
  if (match) assert.match(r.stderr, match, what);
}

/** Every command a person may run, with arguments that get it past the parser. */
const COMMANDS: string[][] = [
  [],
  ['start'],
  ['stop'],
  ['status'],
  ['status', '--json'],
  ['status', '--check'],
  ['pause'],
  ['resume'],
  ['reload'],
  ['fetch'],
  ['fetch', '--wait', 'origin'],
  ['send', 'PAUSE'],
  ['log'],
  ['notifychanges'],
  ['p2p', 'address'],
];

test('outside a git repository every command says so in one line, with what to do, and exits 1', async (t) => {
  const dir = tempDir('grd-cli-');
  t.after(dir.cleanup);
  const env = hermetic(dir.path);
  const outside = join(dir.path, 'plain');
  mkdirSync(outside);
  for (const args of [...COMMANDS, ['p2p', 'pair', '--relay-url', 'ws://127.0.0.1:9/v1']]) {
    const r = await run(outside, args, { ...env, GIT_CEILING_DIRECTORIES: dir.path });
    assertOneLineFailure(r, 1, args.join(' ') || '(no command)', /not (in )?a git repository/);
    if (args[0] !== 'notifychanges') assert.match(r.stderr, /-C <dir>/, args.join(' '));
  }
});

test('-C <dir> runs a command as if started there, for every command; a missing directory is a usage error (2)', async (t) => {
  const fx = makeFixture();
  t.after(fx.cleanup);
  const env = hermetic(fx.root);
  for (const args of [...COMMANDS, ['completion', 'bash']]) {
    const r = await run(fx.root, ['-C', join(fx.root, 'nosuch'), ...args], env);
    assertOneLineFailure(r, 2, `-C nosuch ${args.join(' ')}`, /cannot change to '[^']*nosuch': no such directory/);
  }
  // Relative to the directory before it, as with git; the command then acts on that repository.
  const status = await run(fx.root, ['-C', 'local', 'status'], env);
  assert.equal(status.code, 3, status.stderr);
  assert.equal(status.stdout, 'no daemon is running in this repository\n');
  const nested = await run('/', ['-C', fx.root, '-C', 'local', 'status', '--json'], env);
  assert.equal(nested.code, 3, nested.stderr);
  assert.deepEqual(JSON.parse(nested.stdout), { running: false });
  // A file is not a directory.
  writeFileSync(join(fx.root, 'file'), '');
  assertOneLineFailure(await run(fx.root, ['-C', 'file', 'status'], env), 2, '-C file', /cannot change to 'file'/);
});

test('usage errors: one line with a suggestion or where to read, exit 2; help [command] works at the top level', async (t) => {
  const fx = makeFixture();
  t.after(fx.cleanup);
  const env = hermetic(fx.root);
  const cases: [string[], RegExp][] = [
    [['stauts'], /^git-remote-daemon: unknown command 'stauts' \(did you mean status\?\)$/m],
    [['help', 'stauts'], /unknown command 'stauts' \(did you mean status\?\)/],
    [['xyzzy'], /unknown command 'xyzzy'; see `git remote-daemon help`/],
    [['p2p', 'pare'], /unknown command 'pare' \(did you mean pair\?\)/],
    [['status', '--jsn'], /unknown option '--jsn' \(did you mean --json\?\)/],
    [['status', 'extra'], /too many arguments for 'status'.*; see `git remote-daemon help status`/],
    [['log', '-n', 'x'], /not a number of lines; see `git remote-daemon help log`/],
    [['status', '--check', '--max-stale', 'soon'], /a duration such as 90s/],
    [['fetch', '--wait', '--timeout', 'x'], /a duration such as 90s/],
    [['send'], /missing required argument 'message'/],
    [['completion', 'fish'], /Allowed choices are bash, zsh/],
    [['--nosuch'], /unknown option '--nosuch'/],
  ];
  for (const [args, match] of cases) assertOneLineFailure(await run(fx.local, args, env), 2, args.join(' '), match);

  const help = await run(fx.local, ['help'], env);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^Usage: git-remote-daemon \[options\] \[command\]/);
  assert.match(help.stdout, /^ {2}help \[command\]/m);
  const helpStatus = await run(fx.local, ['help', 'status'], env);
  assert.equal(helpStatus.code, 0, helpStatus.stderr);
  assert.match(helpStatus.stdout, /^Usage: git-remote-daemon status \[options\]/);
  const helpPair = await run(fx.local, ['p2p', 'help', 'pair'], env);
  assert.match(helpPair.stdout, /--relay-url <url>/);
});

test('with no daemon: status and the messages exit 3, stop 0, log 1, each with one line', async (t) => {
  const fx = makeFixture();
  t.after(fx.cleanup);
  const env = hermetic(fx.root);
  for (const args of [['pause'], ['resume'], ['reload'], ['fetch'], ['fetch', '--wait', 'origin'], ['send', 'PAUSE']]) {
    assertOneLineFailure(await run(fx.local, args, env), 3, args.join(' '), /no daemon is running in this repository/);
  }
  const status = await run(fx.local, ['status'], env);
  assert.equal(status.code, 3);
  const stop = await run(fx.local, ['stop'], env);
  assert.equal(stop.code, 0, stop.stderr);
  assertOneLineFailure(await run(fx.local, ['log'], env), 1, 'log');
  assertOneLineFailure(await run(fx.local, ['send', 'NOPE'], env), 2, 'send NOPE', /unknown message "NOPE"/);
});

test('start: a log that cannot be opened, or a daemon directory that is a file, is one line and exit 1', async (t) => {
  const fx = makeFixture();
  t.after(async () => {
    await killDaemon(pathsOf(fx.local));
    fx.cleanup();
  });
  const env = hermetic(fx.root);
  const paths = pathsOf(fx.local);
  // Root may write anywhere: a directory where the log file should be is what cannot be opened.
  mkdirSync(paths.log, { recursive: true });
  for (const args of [[], ['start']]) assertOneLineFailure(await run(fx.local, args, env), 1, `start (${args.join(' ')})`, /cannot open the log .*\/log: EISDIR/);
  rmSync(paths.dir, { recursive: true });
  writeFileSync(paths.dir, '');
  for (const args of [['start'], ['log']]) assertOneLineFailure(await run(fx.local, args, env), 1, `${args.join(' ')} with a file for .git/remote-daemon`);
  // No daemon can run there: the commands that talk to one say so, as with no daemon at all.
  for (const args of [['status'], ['pause']]) assert.equal((await run(fx.local, args, env)).code, 3, args.join(' '));
});

test('p2p pair with a mailbox server that cannot be reached: one line that says what to do, exit 1', async (t) => {
  const probe = await new Promise<boolean>((resolve) => spawn('wormhole', ['--version'], { stdio: 'ignore' }).on('error', () => resolve(false)).on('exit', (c) => resolve(c === 0)));
  if (!probe) {
    if (process.env.CI) assert.fail('magic-wormhole is not installed (.ci/run installs it)');
    return t.skip('magic-wormhole is not installed');
  }
  const fx = makeFixture();
  t.after(fx.cleanup);
  const env = hermetic(fx.root);
  // .invalid never resolves (RFC 6761): the same failure as no network at all, without needing one.
  for (const code of [[], ['7-crossover-clockwork']]) {
    const r = await run(fx.local, ['p2p', 'pair', '--relay-url', 'ws://relay.invalid:4000/v1', ...code], env);
    assertOneLineFailure(r, 1, `p2p pair ${code.join(' ')}`, /wormhole (send|receive) failed: .*; check the network and --relay-url, or pair by hand/);
  }
  assert.equal(git(fx.local, 'remote'), 'origin', 'no remote was added');
});

async function startedFixture(t: { after(fn: () => unknown): void }): Promise<{ fx: Fixture; env: NodeJS.ProcessEnv }> {
  const fx = makeFixture();
  const env = hermetic(fx.root);
  t.after(async () => {
    await run(fx.local, ['stop'], env);
    await killDaemon(pathsOf(fx.local));
    fx.cleanup();
  });
  git(fx.local, 'remote', 'add', 'web', 'hg::https://example.invalid/repo');
  const started = await run(fx.local, ['start'], env);
  assert.equal(started.code, 0, started.stderr);
  return { fx, env };
}

test('fetch refuses a remote the daemon does not act on at once, exit 2, and changes nothing', async (t) => {
  const { fx, env } = await startedFixture(t);
  assertOneLineFailure(await run(fx.local, ['fetch', 'nosuch'], env), 2, 'fetch nosuch', /no remote named nosuch is acted on by the daemon \(it acts on: origin\)/);
  assertOneLineFailure(await run(fx.local, ['fetch', 'origin', 'nosuch'], env), 2, 'fetch origin nosuch', /nosuch/);
  assertOneLineFailure(await run(fx.local, ['fetch', '--wait', 'web'], env), 2, 'fetch web', /does not act on remote web: .*git-remote-hg/);
  const log = await run(fx.local, ['log'], env);
  assert.doesNotMatch(log.stdout, /FETCH|cannot fetch/, 'nothing was sent to the daemon');
  const asked = await run(fx.local, ['fetch'], env);
  assert.equal(asked.code, 0, asked.stderr);
  assert.match(asked.stdout, /^git-remote-daemon: asked the daemon \(pid \d+\) to fetch from origin; `fetch --wait` says how it went$/m);
});

test('fetch --wait says how the fetch went: fetched, or FAILED with git\'s error and exit 1', async (t) => {
  const { fx, env } = await startedFixture(t);
  const ok = await run(fx.local, ['fetch', '--wait', 'origin'], env);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^git-remote-daemon: origin: fetched: /m);
  // An upload-pack that fails: the remote stays reachable (its directory is watched), the fetch fails.
  git(fx.local, 'config', 'remote.origin.uploadpack', 'false');
  const failed = await run(fx.local, ['fetch', '--wait', 'origin'], env);
  assertOneLineFailure(failed, 1, 'fetch --wait (failing)', /^git-remote-daemon: origin: the fetch FAILED: git fetch failed: .*Could not read from remote repository/);
});
