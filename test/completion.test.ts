// Bash completion, run by a real bash the way readline would: subcommands, flags, remote names,
// for `git-remote-daemon ...` and for `git remote-daemon ...`; zsh's, in an interactive zsh in a
// pseudo-terminal, as someone pressing TAB would see it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { git, makeFixture } from './support/git.js';
import { BIN } from './support/daemon.js';
import { bashCompletion, zshCompletion } from '../src/completion.js';
import { buildProgram } from '../src/program.js';
import type { Command } from 'commander';

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
  assert.deepEqual(complete(fx.local, 'git remote-daemon re'), ['register', 'reload', 'resume']);
  assert.deepEqual(complete(fx.local, 'git -C . remote-daemon --f'), ['--force', '--foreground']);
  assert.deepEqual(complete(fx.local, 'git remote-daemon status --'), ['--all', '--check', '--help', '--json', '--max-stale']);
  assert.deepEqual(complete(fx.local, 'git-remote-daemon fetch '), ['backup', 'origin']);
  assert.deepEqual(complete(fx.local, 'git-remote-daemon fetch origin b'), ['backup']);
  assert.deepEqual(complete(fx.local, 'git-remote-daemon send P'), ['PAUSE']);
  assert.deepEqual(complete(fx.local, 'git-remote-daemon send FETCH o'), ['origin']);
  assert.deepEqual(complete(fx.local, 'git-remote-daemon log -'), ['--follow', '--help', '--lines']);
});

test('the committed scripts are what the command definitions make (run `npm run completion`), and what `completion` prints', () => {
  assert.equal(readFileSync(BASH, 'utf8'), bashCompletion());
  assert.equal(readFileSync(ZSH, 'utf8'), zshCompletion());
  for (const [shell, file] of [['bash', BASH], ['zsh', ZSH]]) {
    const r = spawnSync(process.execPath, [BIN, 'completion', shell], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, readFileSync(file, 'utf8'));
  }
});

test('bash: every command and subcommand of the program, help, -C and the options of each', (t) => {
  const fx = makeFixture();
  t.after(() => fx.cleanup());
  mkdirSync(join(fx.local, 'subdir'));
  const program = buildProgram();
  const names = (c: Command) => c.commands.map((sub) => sub.name());
  assert.deepEqual(complete(fx.local, 'git-remote-daemon '), [...names(program), 'help'].sort());
  assert.deepEqual(complete(fx.local, 'git-remote-daemon help '), names(program).sort());
  for (const command of program.commands) {
    if (command.commands.length > 0) {
      assert.deepEqual(complete(fx.local, `git-remote-daemon ${command.name()} `), [...names(command), 'help'].sort(), command.name());
    }
    for (const sub of [command, ...command.commands]) {
      const path = sub === command ? command.name() : `${command.name()} ${sub.name()}`;
      const flags = sub.options.filter((o) => !o.hidden).map((o) => o.long ?? o.short!);
      assert.deepEqual(complete(fx.local, `git-remote-daemon ${path} --`), [...flags.filter((f) => f.startsWith('--')), '--help'].sort(), path);
    }
  }
  assert.deepEqual(complete(fx.local, 'git-remote-daemon p2p '), ['address', 'bootstrap', 'help', 'pair']);
  assert.deepEqual(complete(fx.local, 'git-remote-daemon -C sub'), ['subdir']);
  assert.deepEqual(complete(fx.local, 'git remote-daemon -C subdir st'), ['start', 'status', 'stop']);
  assert.deepEqual(complete(fx.local, 'git-remote-daemon -C . fetch --wait o'), ['origin']);
  assert.deepEqual(complete(fx.local, 'git-remote-daemon completion '), ['bash', 'zsh']);
});

/**
 * Types `line` and a TAB into an interactive zsh (in a pseudo-terminal, zsh's zpty) that loads our
 * completion, and returns what zsh listed once `until` (a zsh glob) shows up.
 */
function zshComplete(cwd: string, line: string, until: string): string {
  const script = `
    zmodload zsh/zpty
    zpty z zsh -f -i
    zpty -w z "fpath=(\${(q)1} \\$fpath); autoload -Uz compinit; compinit -u -D; PROMPT='> '"
    zpty -w z "zstyle ':completion:*:*:git:*' user-commands remote-daemon:'keep in step'; print SET''UP"
    zpty -r z out '*SETUP*'
    zpty -n -w z "$2"$'\\t'
    zpty -r z out "$3"
    print -r -- "$out"
    zpty -d z`;
  const r = spawnSync('zsh', ['-f', '-c', script, 'zsh', dirname(ZSH), line, until], { cwd, encoding: 'utf8', timeout: 20_000, env: { ...process.env, PATH: `${dirname(BIN)}:${process.env.PATH}` } });
  assert.equal(r.status, 0, `zsh did not list ${until} for "${line}": ${r.stdout} ${r.stderr}`);
  return r.stdout.replace(/\x1b\[[0-9;?]*[a-zA-Z]|\r/g, '');
}

test('zsh: commands with descriptions, flags and remote names, for git-remote-daemon and git remote-daemon', (t) => {
  const probe = spawnSync('zsh', ['--version'], { stdio: 'ignore' });
  if (probe.error) {
    if (process.env.CI) assert.fail('zsh is not installed (.ci/run should install zsh)');
    return t.skip('zsh is not installed');
  }
  assert.equal(spawnSync('zsh', ['-n', ZSH]).status, 0, 'it parses');
  const fx = makeFixture();
  t.after(() => fx.cleanup());
  git(fx.local, 'remote', 'add', 'backup', fx.remote);
  for (const line of ['git-remote-daemon st', 'git remote-daemon st']) {
    assert.match(zshComplete(fx.local, line, '*stop*--*gone*'), /start +-- start the daemon[^]*status +-- [^]*stop +-- /);
  }
  assert.match(zshComplete(fx.local, 'git remote-daemon fetch ', '*backup*origin*'), /backup +origin/);
  assert.match(zshComplete(fx.local, 'git-remote-daemon status --', '*--max-stale*--*'), /--check[^]*--json[^]*--max-stale/);
  assert.match(zshComplete(fx.local, 'git-remote-daemon p2p ', '*pair*-- exchange addresses*'), /address +-- [^]*pair +-- exchange addresses/);
  assert.match(zshComplete(fx.local, 'git remote-daemon fetch --wait ', '*backup*origin*'), /backup +origin/);
});
