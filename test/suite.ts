// Runs test files with node's test runner in a home of their own, so that nothing a test proves
// depends on the user who runs it: their ~/.gitconfig (fetch.prune, remotedaemon.* settings), their
// ~/.ssh, their ssh agent, their per-user p2p key under ~/.config. Usage: node dist/test/suite.js
// [file.test.js ...]; with no files, every test under dist/test.

import { spawn } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './support/git.js';

const here = fileURLToPath(new URL('.', import.meta.url));

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return testFiles(path);
      return entry.name.endsWith('.test.js') ? [path] : [];
    })
    .sort();
}

const files = process.argv.length > 2 ? process.argv.slice(2) : testFiles(here).map((f) => relative(process.cwd(), f));
const home = tempDir('grd-test-home-');
// Commits made by git in the tests need a name; nothing else is configured.
writeFileSync(join(home.path, '.gitconfig'), '[user]\n\tname = Test\n\temail = test@example.invalid\n');

const env: NodeJS.ProcessEnv = { ...process.env, HOME: home.path };
for (const name of ['XDG_CONFIG_HOME', 'XDG_DATA_HOME', 'XDG_STATE_HOME', 'XDG_CACHE_HOME', 'GIT_CONFIG_GLOBAL', 'SSH_AUTH_SOCK', 'GIT_SSH', 'GIT_SSH_COMMAND']) {
  delete env[name];
}

const runner = spawn(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=180000', ...files], { env, stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => runner.kill(signal));
runner.on('exit', (code, signal) => {
  home.cleanup();
  process.exitCode = code ?? (signal ? 1 : 0);
});
