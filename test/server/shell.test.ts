// The restricted shell (bin/git-remote-daemon-shell, POSIX sh), table-driven, run as a process
// under every POSIX shell this machine has (dash is Debian's /bin/sh; bash is /bin/sh elsewhere):
// a copy of the script next to a stand-in notifier, with a stand-in `git` first on PATH that
// reports the transfer it was asked for instead of running it (and hands everything else, the
// repository checks, to the real git). The ssh end-to-end runs are in ssh.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { git, tempDir } from '../support/git.js';
import { sqQuote } from '../../shared/kit/shell.js';
import { CHECKOUT, daemonArgv, exitWithin, start, stop } from './helpers.js';

const SCRIPT = join(CHECKOUT, 'bin/git-remote-daemon-shell');

function which(name: string): string | undefined {
  try {
    return execFileSync('/bin/sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The POSIX shells to run the script under: /bin/sh (its shebang) and whichever others exist. */
const SHELLS = [...new Set(["/bin/sh", "dash", "bash", "busybox", "mksh", "yash"].filter((s) => s.startsWith("/") || which(s)))];
const REAL_GIT = which('git')!;

interface Bench {
  root: string;
  /** The git commands the shell ran other than the transfer (its repository checks). */
  gitCalls(): string;
  base: string;
  outside: string;
  /** A file the injection attempts try to create; it must never appear. */
  canary: string;
  run(shell: string, command: string | undefined, base?: string, opts?: { cwd?: string; home?: string; args?: string[] }): { code: number | null; stdout: string; stderr: string };
}

function makeBench(t: { after(fn: () => unknown): void }): Bench {
  const dir = tempDir();
  t.after(() => dir.cleanup());
  const root = dir.path;
  const bin = join(root, 'bin');
  const fake = join(root, 'fake');
  const base = join(root, 'base');
  const outside = join(root, 'outside');
  for (const d of [bin, fake, base, outside]) mkdirSync(d);
  copyFileSync(SCRIPT, join(bin, 'git-remote-daemon-shell'));
  writeFileSync(join(bin, 'git-remote-daemon'), `#!/bin/sh\nprintf 'NOTIFY %s %s\\n' "$1" "$2"\n`, { mode: 0o755 });
  writeFileSync(
    join(fake, 'git'),
    // Every other git call (the repository checks) is logged, one argument list a line.
    `#!/bin/sh\ncase $1 in upload-pack|receive-pack|upload-archive) printf 'RAN %s %s %s\\n' "$#" "$1" "$2"; exit 0 ;; esac\nprintf '%s\\n' "$*" >> ${sqQuote(join(root, 'git-calls'))}\nexec ${sqQuote(REAL_GIT)} "$@"\n`,
    { mode: 0o755 },
  );
  return {
    root,
    gitCalls: () => (existsSync(join(root, 'git-calls')) ? readFileSync(join(root, 'git-calls'), 'utf8') : ''),
    base,
    outside,
    canary: join(root, 'pwned'),
    run(shell, command, baseDir, opts = {}) {
      const env: NodeJS.ProcessEnv = { PATH: `${fake}:${process.env.PATH}`, HOME: opts.home ?? join(root, 'home'), GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' };
      if (command !== undefined) env.SSH_ORIGINAL_COMMAND = command;
      const argv = shell === 'busybox' ? ['sh'] : [];
      const args = opts.args ?? (baseDir === undefined ? [] : [baseDir]);
      const r = spawnSync(shell, [...argv, join(bin, 'git-remote-daemon-shell'), ...args], { env, cwd: opts.cwd ?? root, encoding: 'utf8', input: '' });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    },
  };
}

/** Repositories in the base named the way clients name them; what each command must run. */
function allowedTable(b: Bench): [string, string][] {
  const { base } = b;
  for (const name of ['r.git', "it's here.git", 'bang!.git', 'with space; and $(dollar).git']) git(base, 'init', '-q', '--bare', name);
  return [
    [`git-upload-pack '${base}/r.git'`, `RAN 2 upload-pack ${base}/r.git`],
    [`git-receive-pack '${base}/r.git'`, `RAN 2 receive-pack ${base}/r.git`],
    [`git-upload-archive '${base}/r.git'`, `RAN 2 upload-archive ${base}/r.git`],
    [`git upload-pack '/r.git'`, `RAN 2 upload-pack ${base}/r.git`],
    [`git receive-pack '~/r.git'`, `RAN 2 receive-pack ${base}/r.git`],
    [`git upload-archive 'r'`, `RAN 2 upload-archive ${base}/r.git`],
    [`git-upload-pack '/~/r.git'`, `RAN 2 upload-pack ${base}/r.git`],
    [`git-upload-pack 'it'\\''s here.git'`, `RAN 2 upload-pack ${base}/it's here.git`],
    [`git-upload-pack 'bang'\\!'.git'`, `RAN 2 upload-pack ${base}/bang!.git`],
    [`git-upload-pack 'with space; and $(dollar).git'`, `RAN 2 upload-pack ${base}/with space; and $(dollar).git`],
    [`git-upload-pack r.git`, `RAN 2 upload-pack ${base}/r.git`],
    [`notifychanges '/r.git'`, `NOTIFY notifychanges ${base}/r.git`],
    [`notifychanges r.git`, `NOTIFY notifychanges ${base}/r.git`],
    [`git-remote-daemon notifychanges '~/r.git'`, `NOTIFY notifychanges ${base}/r.git`],
    [`git-remote-daemon 'notifychanges' 'r.git'`, `NOTIFY notifychanges ${base}/r.git`],
  ];
}

for (const shell of SHELLS) {
  test(`${shell}: allowed commands run one git transfer or the notifier on the resolved path`, (t) => {
    const b = makeBench(t);
    for (const [command, expected] of allowedTable(b)) {
      const r = b.run(shell, command, b.base);
      assert.equal(r.stderr, '', command);
      assert.equal(r.code, 0, command);
      assert.equal(r.stdout, `${expected}\n`, command);
    }
  });
}

const LONG = 'a'.repeat(5000);
const hostile: [string | undefined, RegExp][] = [
  [undefined, /interactive login/],
  ['', /interactive login/],
  ['   ', /interactive login/],
  ['sh', /not allowed/],
  ['bash -i', /not allowed/],
  ['ls /', /not allowed/],
  [`git-upload-pack '/r.git'; touch PWNED`, /unexpected ";" after a quoted word/],
  [`git-upload-pack '/r.git' ; touch PWNED`, /metacharacter ";"/],
  [`git-upload-pack /r.git;touch PWNED`, /metacharacter ";"/],
  [`git-upload-pack '/r.git' && touch PWNED`, /metacharacter "&"/],
  [`git-upload-pack '/r.git' | touch PWNED`, /metacharacter "\|"/],
  [`git-upload-pack $(touch PWNED)`, /metacharacter "\$"/],
  [`git-upload-pack /r$(touch PWNED)`, /metacharacter "\$"/],
  ['git-upload-pack `touch PWNED`', /metacharacter "`"/],
  [`git-upload-pack '/r.git'\`touch PWNED\``, /unexpected "`" after a quoted word/],
  [`git-upload-pack "/r.git"`, /metacharacter "\\""/],
  [`git-upload-pack "$(touch PWNED)"`, /metacharacter "\\""/],
  [`git-upload-pack /r.git > PWNED`, /metacharacter ">"/],
  [`git-upload-pack '/r.git'\ntouch PWNED`, /control character 0x0a/],
  [`git-upload-pack '/r.git\ntouch PWNED'`, /control character 0x0a/],
  [`git-upload-pack '/r.git'\rid`, /control character 0x0d/],
  [`git-upload-pack\t'/r.git'`, /control character 0x09/],
  [`git-upload-pack '/r.git\x1b[2J'`, /control character 0x1b/],
  [`git-upload-pack '/r.git\x7f'`, /control character 0x7f/],
  [`git-upload-pack '--upload-pack=touch PWNED'`, /options are not allowed/],
  [`git-upload-pack --upload-pack=id`, /options are not allowed/],
  [`git-receive-pack '-c' '/r.git'`, /exactly one argument/],
  [`git-upload-pack -c`, /options are not allowed/],
  [`git upload-pack '--strict' '/r.git'`, /exactly one argument/],
  [`notifychanges '-h'`, /options are not allowed/],
  [`git-upload-pack '/a.git' '/b.git'`, /exactly one argument/],
  [`git-upload-pack '/a.git' '/b.git' 'c' 'd' 'e' 'f'`, /exactly one argument/],
  [`git-upload-pack`, /needs a repository path/],
  [`git upload-pack`, /needs a repository path/],
  [`notifychanges`, /needs a repository path/],
  [`git-upload-pack ''`, /empty repository path/],
  [`git-upload-pack  '/r.git'`, /stray space/],
  [`git-upload-pack '/r.git' `, /stray space/],
  [` git-upload-pack '/r.git'`, /stray space/],
  [`git-upload-pack '/r.git`, /unterminated quote/],
  [`git-upload-pack '/r.git'''`, /unexpected "'" after a quoted word/],
  [`git-upload-pack '`, /unterminated quote/],
  [`git-upload-pack '/r'.git`, /after a quoted word/],
  [`git-upload-pack '/r'\\''`, /unterminated quote/],
  [`git-upload-pack '/r'\\'`, /unexpected "\\\\" after a quoted word/],
  [`git-upload-pack '/r'\\!`, /unexpected "\\\\" after a quoted word/],
  [`git-upload-pack /r'.git'`, /metacharacter "'"/],
  [`git config core.sshCommand id`, /not allowed/],
  [`git -c core.sshCommand=id upload-pack '/r.git'`, /not allowed/],
  [`git-shell -c 'git-upload-pack /r.git'`, /not allowed/],
  [`git-annex-shell notifychanges '/r.git'`, /not allowed/],
  [`/usr/bin/git-upload-pack '/r.git'`, /not allowed/],
  [`git-http-backend '/r.git'`, /not allowed/],
  [`'git-upload-pack'x '/r.git'`, /after a quoted word/],
  [`git-upload-pack ~/r.git/*`, /metacharacter "\*"/],
  [`git-upload-pack {a,b}`, /metacharacter "\{"/],
  [`git-upload-pack \\'/r.git\\'`, /metacharacter "\\\\"/],
  [`env GIT_DIR=/ git-upload-pack '/r.git'`, /not allowed/],
  [`git-remote-daemon shell`, /not allowed/],
  [`git-remote-daemon`, /not allowed/],
  [`git-remote-daemon notifychanges '/a' && touch PWNED`, /metacharacter "&"/],
  [`git-upload-pack '${LONG}'`, /command too long/],
  [`${LONG}`, /command too long/],
  [`git-upload-pack '${"'\\''".repeat(1200)}'`, /command too long/],
  [`${'x'.repeat(200)} '/r.git'`, /^git-remote-daemon shell: command not allowed: "x{80}\.\.\."\n$/],
];

for (const shell of SHELLS) {
  test(`${shell}: refuses ${hostile.length} hostile commands, each with one line, exit 1 and nothing run`, (t) => {
    const b = makeBench(t);
    git(b.base, 'init', '-q', '--bare', 'r.git');
    for (const [line, reason] of hostile) {
      const command = line?.replaceAll('PWNED', b.canary);
      const r = b.run(shell, command, b.base);
      assert.equal(r.code, 1, `accepted: ${JSON.stringify(line)}: ${r.stdout}`);
      assert.equal(r.stdout, '', JSON.stringify(line));
      assert.match(r.stderr, /^git-remote-daemon shell: [^\n]+\n$/, JSON.stringify(line));
      assert.match(r.stderr, reason, JSON.stringify(line));
      assert.ok(r.stderr.length < 300, `the refusal is bounded: ${JSON.stringify(line)}`);
    }
    assert.equal(existsSync(b.canary), false, 'no injection ran');
  });
}

for (const shell of SHELLS) {
  test(`${shell}: a 4096-byte command is read, one byte more is refused before it is looked at`, (t) => {
    const b = makeBench(t);
    const fits = `git-upload-pack '${'a'.repeat(4096 - 18)}'`;
    assert.equal(fits.length, 4096);
    assert.match(b.run(shell, fits, b.base).stderr, /repository not found/);
    assert.match(b.run(shell, `${fits} `, b.base).stderr, /command too long/);
  });
}

for (const shell of SHELLS) {
  test(`${shell}: every word git's quoting makes (sqQuote) reads back as the same path`, (t) => {
    const b = makeBench(t);
    const awkward = ['plain', "it's", 'bang!', "'!'!''", 'sp ace', '$(x);`y`', 'a\\b', '"dq"', '*?[x]', 'é ü', '-dash', ' lead', 'x~'];
    for (const name of awkward) git(b.base, 'init', '-q', '--bare', '--', name);
    for (const name of awkward) {
      const r = b.run(shell, `git-upload-pack ${sqQuote(name)}`, b.base);
      const expected = name.startsWith('-') ? '' : `RAN 2 upload-pack ${b.base}/${name}\n`;
      assert.equal(r.stdout, expected, `${name}: ${r.stderr}`);
      if (name.startsWith('-')) assert.match(r.stderr, /options are not allowed/);
    }
  });
}

for (const shell of SHELLS) {
  test(`${shell}: paths: repositories only, inside the base once .. and symlinks are resolved, one answer for every refusal`, (t) => {
    const b = makeBench(t);
    const { base, outside } = b;
    git(base, 'init', '-q', '--bare', 'ok.git');
    git(base, 'init', '-q', 'worktree');
    git(outside, 'init', '-q', '--bare', 'secret.git');
    git(outside, 'init', '-q', 'outwt');
    symlinkSync(join(outside, 'secret.git'), join(base, 'link.git'));
    symlinkSync(outside, join(base, 'outdir'));
    symlinkSync(base, join(b.root, 'baselink'));
    mkdirSync(join(base, 'plain'));
    // A work tree inside the base whose .git file points out of it.
    mkdirSync(join(base, 'gitfile'));
    writeFileSync(join(base, 'gitfile', '.git'), `gitdir: ${join(outside, 'outwt', '.git')}\n`);
    // A linked work tree inside the base of a repository outside it (its common dir is outside).
    git(join(outside, 'outwt'), 'commit', '-q', '--allow-empty', '-m', 'x');
    git(join(outside, 'outwt'), 'worktree', 'add', '-q', join(base, 'linked'));

    /** What git is given for `path` (null: no base directory), or the refusal. */
    const served = (path: string, baseDir: string | null = base) => {
      const r = b.run(shell, `git-upload-pack ${sqQuote(path)}`, baseDir ?? undefined);
      return r.code === 0 ? r.stdout.replace(/^RAN 2 upload-pack (.*)\n$/, '$1') : r.stderr;
    };
    const okGit = join(base, 'ok.git');
    assert.equal(served('ok.git'), okGit);
    assert.equal(served('ok'), okGit);
    assert.equal(served(okGit), okGit);
    assert.equal(served('worktree'), join(base, 'worktree'));
    assert.equal(served('/ok.git'), okGit);
    assert.equal(served('~/ok.git'), okGit);
    assert.equal(served('~'), 'git-remote-daemon shell: repository not found: "~"\n', 'the base itself is no repository');
    assert.equal(served('/~/ok'), okGit);
    assert.equal(served('/worktree/../ok.git'), okGit);
    assert.equal(served('//ok.git/.'), okGit);
    // The base named through a symlink: the configured spelling and the real one both mean the base.
    assert.equal(served(join(b.root, 'baselink', 'ok.git'), join(b.root, 'baselink')), okGit);
    assert.equal(served(okGit, join(b.root, 'baselink')), okGit);
    assert.equal(served('ok.git', `${base}/`), okGit);
    // Without a base: anywhere, and the path forms of docs/server.md.
    assert.equal(served(join(outside, 'secret.git'), null), join(outside, 'secret.git'));
    assert.equal(served('~/x.git', null), 'git-remote-daemon shell: not a git repository: "~/x.git"\n');
    assert.equal(b.run(shell, `git-upload-pack 'secret'`, undefined, { cwd: outside }).stdout, `RAN 2 upload-pack ${join(outside, 'secret.git')}\n`);
    assert.equal(b.run(shell, `git-upload-pack '~/secret'`, undefined, { home: outside }).stdout, `RAN 2 upload-pack ${join(outside, 'secret.git')}\n`);
    assert.equal(b.run(shell, `git-upload-pack '/~root/nope.git'`, undefined).stderr, 'git-remote-daemon shell: not a git repository: "/~root/nope.git"\n');
    assert.equal(b.run(shell, `git-upload-pack '~no-such-user-grd/x'`, undefined).stderr, 'git-remote-daemon shell: no such user: "~no-such-user-grd"\n');
    assert.equal(b.run(shell, `git-upload-pack '~a:b/x'`, undefined).stderr, 'git-remote-daemon shell: not a user name: "~a:b"\n');

    // Refused with a base, all with the same words, whatever is or is not there.
    const refused = [
      join(outside, 'secret.git'),
      join(outside, 'missing.git'),
      '../outside/secret.git',
      '/../outside/secret.git',
      `${base}/../outside/secret.git`,
      'worktree/../../outside/secret.git',
      'link.git',
      'outdir/secret.git',
      'gitfile',
      'linked',
      'plain',
      'missing.git',
      '/',
      '.',
      '..',
      '~root/x.git',
      '~nobody-such-user/x.git',
      '/~root',
      '~/../outside/secret.git',
      '/~/../outside/secret.git',
      'ok.git/objects',
    ];
    rmSync(join(b.root, 'git-calls'), { force: true });
    for (const path of refused) {
      assert.equal(served(path), `git-remote-daemon shell: repository not found: ${JSON.stringify(path)}\n`, path);
      assert.equal(b.run(shell, `notifychanges ${sqQuote(path)}`, base).stderr, `git-remote-daemon shell: repository not found: ${JSON.stringify(path)}\n`, path);
    }
    // Paths outside are refused on their words, before git is asked about anything there; only
    // symlinks inside the base lead git out, and the real paths are checked after.
    const asked = b.gitCalls().split('\n').filter(Boolean);
    assert.ok(asked.length > 0, 'the calls are logged');
    for (const call of asked) assert.ok(call.startsWith(`--git-dir=${base}/`) || call.startsWith(`--git-dir=${base} `), `git was asked about ${call}`);
    assert.match(served('ok.git', join(b.root, 'nope')), /^git-remote-daemon shell: base directory does not exist: /);
  });
}

test('usage: one optional base directory; -c and other options are refused (a forced command, not a login shell)', (t) => {
  const b = makeBench(t);
  git(b.base, 'init', '-q', '--bare', 'r.git');
  for (const args of [['-c', `git-upload-pack 'r.git'`], [b.base, b.base], ['--help'], ['']]) {
    const r = b.run('/bin/sh', `git-upload-pack 'r.git'`, undefined, { args });
    assert.equal(r.code, 1, JSON.stringify(args));
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^git-remote-daemon shell: usage: git-remote-daemon-shell \[<basedir>\][^\n]*\n$/);
  }
});

test('`git-remote-daemon shell` runs the same script: refusals, exit codes and the transfer itself', async (t) => {
  const dir = tempDir();
  t.after(() => dir.cleanup());
  git(dir.path, 'init', '-q', '--bare', 'r.git');
  for (const command of [undefined, `git-upload-pack '/r.git'; id`, `git-upload-pack '${dir.path}'`, `git-upload-pack '-x'`]) {
    const env: NodeJS.ProcessEnv = { ...process.env };
    if (command === undefined) delete env.SSH_ORIGINAL_COMMAND;
    else env.SSH_ORIGINAL_COMMAND = command;
    const run = start(daemonArgv('shell', dir.path), { env });
    t.after(() => stop(run));
    assert.equal(await exitWithin(run, 20_000), 1, String(command));
    assert.match(run.stderr(), /^git-remote-daemon shell: [^\n]+\n$/, String(command));
    assert.deepEqual(run.stdout.pending(), []);
  }
  // A real upload-pack: the ref advertisement comes back through the inherited stdout, and git's
  // exit code is ours.
  const work = join(dir.path, 'work');
  git(dir.path, 'init', '-q', work);
  git(work, 'commit', '-q', '--allow-empty', '-m', 'one');
  git(work, 'push', '-q', join(dir.path, 'r.git'), 'HEAD:refs/heads/main');
  const run = start(daemonArgv('shell', dir.path), { env: { ...process.env, SSH_ORIGINAL_COMMAND: `git-upload-pack 'r.git'` } });
  t.after(() => stop(run));
  run.child.stdin!.end('0000');
  assert.equal(await exitWithin(run, 20_000), 0, run.stderr());
  assert.match(run.stdout.chunks.join(''), /^[0-9a-f]{4}[0-9a-f]{40} refs\/heads\/main\0[^\n]*\n0000$/);
});
