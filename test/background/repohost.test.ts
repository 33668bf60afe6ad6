// One repository hosted by a daemon process (src/background/repohost.ts), in this process: refused
// while another daemon holds the repository, everything it made removed when it cannot serve, and
// a repository with no remotes served and ended by STOP on its pipe, its files gone after.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileSink, hostRepository, type RepoHostOptions } from '../../src/background/repohost.js';
import { LogFile } from '../../src/background/log.js';
import { writeControlLine } from '../../src/background/fifo.js';
import { readState } from '../../src/background/state.js';
import { daemonFilesIn, ensureDir, type DaemonPaths } from '../../src/background/paths.js';
import { git, tempDir } from '../support/git.js';
import { eventually } from '../support/daemon.js';
import { repoHere, standIn } from '../support/standin.js';

function options(dir: string, paths: DaemonPaths, lines: string[]): RepoHostOptions {
  return { dir, paths, mode: 'background', sink: { line: (text) => lines.push(text), close() {} }, logTo: 'file' };
}

function titled(t: TestContext): void {
  const before = process.title;
  process.title = 'git-remote-daemon test';
  t.after(() => {
    process.title = before;
  });
}

test('fileSink: lines to the log file, made again once deleted', (t) => {
  const d = tempDir('grd-repohost-');
  t.after(d.cleanup);
  const log = join(d.path, 'log');
  const sink = fileSink(new LogFile(log, `${log}.1`));
  sink.line('CONNECTED origin');
  assert.match(readFileSync(log, 'utf8'), /CONNECTED origin\n$/);
  assert.equal(sink.reopen!(), false, 'still there: nothing to do');
  unlinkSync(log);
  assert.equal(sink.reopen!(), true);
  sink.line('DISCONNECTED origin');
  sink.close();
  assert.match(readFileSync(log, 'utf8'), /^\S+ DISCONNECTED origin\n$/);
});

test('another daemon holds the repository: refused, naming it, and nothing made', async (t) => {
  const { repo, paths } = repoHere(t);
  await standIn(t, paths, 'background');
  const lines: string[] = [];
  const before = readdirSync(paths.dir).sort();
  assert.deepEqual(await hostRepository(options(repo, paths, lines)), { ok: false, holder: { pid: process.pid } });
  assert.deepEqual(readdirSync(paths.dir).sort(), before);
  assert.deepEqual(lines, []);
});

test('a directory it cannot serve (no repository there): it throws, having removed all it made', async (t) => {
  const d = tempDir('grd-repohost-');
  t.after(d.cleanup);
  titled(t);
  const paths = daemonFilesIn(join(d.path, 'files'), d.path);
  ensureDir(paths);
  mkdirSync(join(d.path, 'plain'));
  await assert.rejects(hostRepository(options(join(d.path, 'plain'), paths, [])), /not a git repository/i);
  assert.deepEqual(readdirSync(paths.dir), [], 'no lock, pid file, pipe or state left');
});

test('a repository with no remotes is served until STOP on its pipe; then its files are removed', async (t) => {
  const { repo, paths } = repoHere(t);
  titled(t);
  const lines: string[] = [];
  const hosted = await hostRepository(options(repo, paths, lines));
  assert.ok(hosted.ok);
  const host = hosted.host;
  t.after(() => host.stop());
  assert.equal(host.endedBy(), undefined);
  const state = readState(paths.state);
  assert.equal(state?.pid, process.pid);
  assert.deepEqual([state?.cwd, state?.logTo, state?.remotes], [repo, 'file', []]);
  assert.equal(readFileSync(paths.pidFile, 'utf8').split(' ')[0], String(process.pid));

  await writeControlLine(paths.control, 'STOP');
  assert.equal(await host.finished, 0);
  assert.equal(host.endedBy(), 'stop');
  assert.ok(lines.includes('# control pipe: STOP'), lines.join('\n'));
  await eventually(() => ['lock', 'pid', 'control', 'state.json'].every((f) => !existsSync(join(paths.dir, f))), 'its files removed');
});
