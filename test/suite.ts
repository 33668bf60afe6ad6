// Runs test files with node's test runner in a home of their own, so that nothing a test proves
// depends on the user who runs it: their ~/.gitconfig (fetch.prune, remotedaemon.* settings), their
// ~/.ssh, their ssh agent, their per-user p2p key under ~/.config. Usage: node dist/test/suite.js
// [file.test.js ...]; with no files, every test under dist/test, the unit files among them in
// shards as with --unit. With --unit, only the files listed in test/unit.txt (no real server), in
// eight processes, four side by side (shards, below), with the guard that makes starting one fail.

import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
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

/** test/unit.txt's files (sources, relative to the repository) as the built files to run. */
function unitFiles(): string[] {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  return readFileSync(join(root, 'test/unit.txt'), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((source) => relative(process.cwd(), join(root, 'dist', source.replace(/\.ts$/, '.js'))));
}

/**
 * The unit files in `count` processes instead of one each: a test file per module is many small
 * files, and a Node process per file cost more than their tests (0.3 s of CPU each; 22 s for the
 * unit run of 77 files on two cores, 12 s in four shards). Each shard imports its share, whose
 * tests run one after another in it; four shards run side by side. A failure still names its file.
 * Eight rather than four: a shard's tests run one after another, so the run lasts as long as its
 * slowest shard (with 134 files, 32-37 s in four shards, 27-29 s in eight, 30 s in twelve).
 */
function shards(files: string[], count: number, dir: string): string[] {
  return Array.from({ length: count }, (_, k) => {
    const shard = join(dir, `unit-shard-${k}.mjs`);
    const share = files.filter((_, i) => i % count === k);
    writeFileSync(shard, share.map((file) => `import ${JSON.stringify(pathToFileURL(resolve(file)).href)};\n`).join(''));
    return shard;
  });
}

const UNIT_SHARDS = 8;
const args = process.argv.slice(2);
const unit = args[0] === '--unit';
const named = unit ? args.slice(1) : args;
const shardDir = named.length === 0 ? tempDir('grd-unit-shards-') : undefined;
/**
 * Every test: the unit files in shards too (a process per file cost ~0.4 s of CPU each, ~55 s for
 * the whole list), the others a process each, as they start servers and run long.
 */
function allFiles(dir: string): string[] {
  const unitSet = new Set(unitFiles().map((f) => resolve(f)));
  const others = testFiles(here).filter((f) => !unitSet.has(resolve(f)));
  return [...shards([...unitSet], UNIT_SHARDS, dir), ...others.map((f) => relative(process.cwd(), f))];
}
const files = named.length > 0 ? named : unit ? shards(unitFiles(), UNIT_SHARDS, shardDir!.path) : allFiles(shardDir!.path);
// In --unit, a timeout covers a whole shard (a quarter of the unit files): 12 s on a quiet machine,
// past 30 s on a loaded one, so its limit is a hang's, not a slow run's.
const runnerArgs = unit
  ? ['--import', fileURLToPath(new URL('./support/unitguard.js', import.meta.url)), '--test', '--test-concurrency=4', '--test-timeout=120000']
  : ['--test', '--test-concurrency=2', '--test-timeout=180000'];
const home = tempDir('grd-test-home-');
// Commits made by git in the tests need a name; nothing else is configured.
writeFileSync(join(home.path, '.gitconfig'), '[user]\n\tname = Test\n\temail = test@example.invalid\n');

const env: NodeJS.ProcessEnv = { ...process.env, HOME: home.path };
for (const name of ['XDG_CONFIG_HOME', 'XDG_DATA_HOME', 'XDG_STATE_HOME', 'XDG_CACHE_HOME', 'GIT_CONFIG_GLOBAL', 'SSH_AUTH_SOCK', 'GIT_SSH', 'GIT_SSH_COMMAND']) {
  delete env[name];
}

const runner = spawn(process.execPath, [...runnerArgs, ...files], { env, stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => runner.kill(signal));
runner.on('exit', (code, signal) => {
  home.cleanup();
  shardDir?.cleanup();
  process.exitCode = code ?? (signal ? 1 : 0);
});
