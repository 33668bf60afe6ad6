// `git-remote-daemon shell [<basedir>]` without the CLI (src/server/shellentry.ts): the launcher
// comes straight here, and the base directory is the command line's, taken by position. The
// shell's own rules are test/server/shell.test.ts's; here only that the entry passes them on.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { BIN } from '../support/daemon.js';
import { git, tempDir } from '../support/git.js';

/** The launcher's `shell` with `args`, asked by ssh for `command`; its exit code, stdout and stderr. */
async function shell(args: string[], command: string, cwd: string) {
  const child = spawn(process.execPath, [BIN, 'shell', ...args], { cwd, env: { ...process.env, SSH_ORIGINAL_COMMAND: command }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  child.stdin.end('0000'); // an upload-pack client that wants nothing
  const [code] = await once(child, 'close');
  return { code, stdout, stderr };
}

function repos(t: TestContext): { base: string; elsewhere: string } {
  const d = tempDir('grd-shellentry-');
  t.after(d.cleanup);
  const base = join(d.path, 'base');
  const elsewhere = join(d.path, 'elsewhere');
  git(d.path, 'init', '-q', '--bare', join(base, 'r.git'));
  git(d.path, 'init', '-q', '--bare', join(elsewhere, 'r.git'));
  return { base, elsewhere };
}

test('the base directory given is the one enforced: a repository in it is served, relative to it; one outside is refused', async (t) => {
  const { base, elsewhere } = repos(t);
  // Run from `elsewhere`: a relative path is the base's, not the working directory's.
  const [inside, outside] = await Promise.all([
    shell([base], "git-upload-pack 'r.git'", elsewhere),
    shell([base], `git-upload-pack '${join(elsewhere, 'r.git')}'`, elsewhere),
  ]);
  assert.equal(inside.code, 0, inside.stderr);
  assert.match(inside.stdout, /^[0-9a-f]{4}/, 'an advertisement');
  assert.equal(outside.code, 1);
  assert.equal(outside.stdout, '');
  assert.match(outside.stderr, /^git-remote-daemon shell: [^\n]+\n$/);
});
