// Starting the daemon in the background (src/background/start.ts) with a stand-in for the daemon:
// a few lines of Node that report on fd 3 as run.ts does, or fail to. What the starter makes of each
// report, and how the daemon is started (its own session, its directory, stderr to the log).

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { interpret, spawnDaemon, startInBackground } from '../../src/background/start.js';
import { tempDir } from '../support/git.js';
import { repoHere, standIn } from '../support/standin.js';

function dir(t: TestContext): string {
  const d = tempDir('grd-start-');
  t.after(d.cleanup);
  return d.path;
}

/** `node -e <script>`, the daemon's stand-in. */
const node = (script: string) => ['-e', `const fs = require('node:fs'); ${script}`];

test('interpret: READY, ALREADY and ERROR as the daemon says them, anything else as unexpected', () => {
  assert.deepEqual(interpret('READY 42', '/r/log', ['origin a warning']), {
    code: 0,
    message: 'started (pid 42); log: /r/log',
    pid: 42,
    warnings: ['origin a warning'],
  });
  assert.deepEqual(interpret('ALREADY 42', '/r/log'), { code: 0, message: 'already running (pid 42)', pid: 42 });
  assert.deepEqual(interpret('ERROR no remotes at all', '/r/log'), { code: 1, message: 'no remotes at all' });
  assert.deepEqual(interpret('ERROR', '/r/log'), { code: 1, message: 'the daemon could not start' });
  assert.deepEqual(interpret('READY42', '/r/log'), { code: 1, message: 'the daemon said something unexpected: "READY42"' });
  assert.deepEqual(interpret('', '/r/log'), { code: 1, message: 'the daemon said something unexpected: ""' });
});

test('spawnDaemon: the report on fd 3, warnings first; the daemon in its own session, in its directory, stderr appended to the log', async (t) => {
  const d = dir(t);
  const log = join(d, 'log');
  writeFileSync(log, 'earlier\n');
  const report = await spawnDaemon(
    node(`process.stderr.write('to the log\\n');
      fs.writeSync(3, 'WARNING origin one\\nWARNING DAEMON two\\nREADY ' + process.pid + '\\n');
      fs.closeSync(3);
      setInterval(() => {}, 1000);`),
    d,
    log,
  );
  assert.ok('answer' in report, JSON.stringify(report));
  const pid = Number(report.answer.split(' ')[1]);
  t.after(() => process.kill(pid, 'SIGKILL'));
  assert.equal(report.answer, `READY ${pid}`);
  assert.deepEqual(report.warnings, ['origin one', 'DAEMON two']);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const session = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
  assert.equal(session, pid, 'it leads a session of its own (survives the terminal)');
  assert.equal(readlinkSync(`/proc/${pid}/cwd`), d);
  assert.equal(readlinkSync(`/proc/${pid}/fd/0`), '/dev/null');
  assert.equal(readFileSync(log, 'utf8'), 'earlier\nto the log\n');
});

test('spawnDaemon: a daemon that ends without a report is a failure that says how and where to look', async (t) => {
  const d = dir(t);
  const log = join(d, 'log');
  assert.deepEqual(await spawnDaemon(node('process.exit(5)'), d, log), { code: 1, message: `the daemon exited with code 5 while starting; see ${log}` });
  // Its last line still arrives when it exits at once after writing it.
  assert.deepEqual(await spawnDaemon(node("fs.writeSync(3, 'ERROR the config is broken\\n'); process.exit(1)"), d, log), {
    answer: 'ERROR the config is broken',
    warnings: [],
  });
});

test('spawnDaemon: a log it cannot open is said, and nothing is started', async (t) => {
  const d = dir(t);
  const log = join(d, 'missing', 'log');
  const result = await spawnDaemon(node("fs.writeFileSync('started', '')"), d, log);
  assert.equal((result as { code: number }).code, 1);
  assert.match((result as { message: string }).message, new RegExp(`^cannot open the log ${log}: .*ENOENT.*; make it a file this user may write$`));
  assert.equal(existsSync(join(d, 'started')), false);
});

test('startInBackground: outside a repository git\'s words; a daemon already there is named and nothing started', async (t) => {
  const outside = await startInBackground(dir(t));
  assert.equal(outside.code, 1);
  assert.match(outside.message, /not a git repository/i);
  const { repo, paths } = repoHere(t);
  await standIn(t, paths, 'background');
  mkdirSync(paths.log); // were a daemon started after all, its log could not be opened
  assert.deepEqual(await startInBackground(repo), { code: 0, message: `already running (pid ${process.pid})`, pid: process.pid });
});
