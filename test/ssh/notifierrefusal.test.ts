// The fallback WARNING's reading of what the server said, against the real refusals of the
// servers a notifier meets (run here locally, as sshd would run them) and a plain shell's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { classifyRefusal, fallbackAdvice } from '../../workers/ssh/notifierrefusal.js';

// git-shell chdirs to $HOME (and looks for git-shell-commands there): an empty one of our own.
const home = mkdtempSync(join(tmpdir(), 'grd-fallback-home-'));
process.on('exit', () => rmSync(home, { recursive: true, force: true }));
const COMMAND = `git-remote-daemon notifychanges '/srv/git/r.git'`;

function answer(file: string, args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; stderr: string } {
  const run = spawnSync(file, args, { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', HOME: home, ...env }, input: '' });
  return { code: run.status, stderr: run.stderr };
}

test('each kind of server is told apart by its own refusal', () => {
  const cases: [string, { code: number | null; stderr: string }, string][] = [
    ['a plain login shell without the command', answer('/bin/sh', ['-c', COMMAND]), 'not-found'],
    ['git-shell as the login shell', answer('git-shell', ['-c', COMMAND]), 'git-shell'],
    ['git-annex-shell as the forced command', answer('git-annex-shell', ['-c', COMMAND]), 'git-annex-shell'],
    ['our restricted shell refusing', answer(process.execPath, ['-e', 'process.stderr.write("git-remote-daemon shell: command not allowed: \\"x\\"\\n"); process.exit(1)']), 'restricted-shell'],
    // gitolite-shell's refusals, as gitolite 3.6 prints them (test/server/recipes.test.ts runs it for real).
    ['gitolite', { code: 1, stderr: `FATAL: unknown git/gitolite command: '${COMMAND}'\n` }, 'gitolite'],
    ['something else', { code: 2, stderr: 'oops\n' }, 'other'],
  ];
  for (const [what, { code, stderr }, kind] of cases) assert.equal(classifyRefusal(code, stderr), kind, `${what}: ${JSON.stringify(stderr)} (exit ${code})`);
});

test('installing is suggested only when the command was not found; each advice names its docs section', () => {
  const setting = 'remote.origin.remotedaemon-notifier';
  assert.match(fallbackAdvice('not-found', setting), /^Install git-remote-daemon/);
  for (const kind of ['gitolite', 'git-shell', 'git-annex-shell', 'restricted-shell', 'other'] as const) {
    assert.doesNotMatch(fallbackAdvice(kind, setting), /install/i, kind);
    assert.match(fallbackAdvice(kind, setting), /docs\/server\.md, "[^"]+"/, kind);
  }
  assert.match(fallbackAdvice('gitolite', setting), /"Behind gitolite"/);
  assert.match(fallbackAdvice('git-shell', setting), /"Behind git-shell"/);
  assert.match(fallbackAdvice('git-annex-shell', setting), /git-annex-shell notifychanges/);
});
