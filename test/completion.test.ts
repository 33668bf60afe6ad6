// Bash completion, run by a real bash the way readline would: subcommands, flags, remote names,
// for `git-remote-daemon ...` and for `git remote-daemon ...`. The zsh file is checked by zsh's parser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { git, makeFixture } from './support/git.js';

const BASH = fileURLToPath(new URL('../../completion/git-remote-daemon.bash', import.meta.url));
const ZSH = fileURLToPath(new URL('../../completion/_git-remote-daemon', import.meta.url));

function complete(cwd: string, line: string): string[] {
  const words = line.split(' ');
  const script = `source "$1"; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _git_remote_daemon; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = spawnSync('bash', ['--norc', '--noprofile', '-c', script, 'bash', BASH], { cwd, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean).sort();
}

test('bash: commands, flags, remote names and messages', (t) => {
  const fx = makeFixture();
  t.after(() => fx.cleanup());
  git(fx.local, 'remote', 'add', 'backup', fx.remote);
  assert.deepEqual(complete(fx.local, 'git-remote-daemon st'), ['start', 'status', 'stop']);
  assert.deepEqual(complete(fx.local, 'git remote-daemon re'), ['reload', 'resume']);
  assert.deepEqual(complete(fx.local, 'git -C . remote-daemon --f'), ['--force', '--foreground']);
  assert.deepEqual(complete(fx.local, 'git remote-daemon status --'), ['--check', '--help', '--json', '--max-stale']);
  assert.deepEqual(complete(fx.local, 'git-remote-daemon fetch '), ['backup', 'origin']);
  assert.deepEqual(complete(fx.local, 'git-remote-daemon fetch origin b'), ['backup']);
  assert.deepEqual(complete(fx.local, 'git-remote-daemon send P'), ['PAUSE']);
  assert.deepEqual(complete(fx.local, 'git-remote-daemon send FETCH o'), ['origin']);
  assert.deepEqual(complete(fx.local, 'git-remote-daemon log -'), ['--follow', '--help', '--lines']);
});

test('zsh: the completion function parses', (t) => {
  const probe = spawnSync('zsh', ['--version'], { stdio: 'ignore' });
  if (probe.error) {
    if (process.env.CI) assert.fail('zsh is not installed (.ci/run should install zsh)');
    return t.skip('zsh is not installed');
  }
  const r = spawnSync('zsh', ['-n', ZSH], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});
