// The background and service daemon's process parts (src/background/run.ts) that need no
// repository: where its lines go (stderr, with journald's priorities), and how the Starter tells
// the starting process (fd 3, in a child process: this one's fd 3 is not ours) or a service manager.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Starter, stderrSink } from '../../src/background/run.js';
import { spawnDaemon } from '../../src/background/start.js';
import { tempDir } from '../support/git.js';
import { caught } from '../support/exitcapture.js';
import { eventually } from '../support/daemon.js';

function withJournal(t: TestContext, value: string | undefined): void {
  const saved = process.env.JOURNAL_STREAM;
  if (value === undefined) delete process.env.JOURNAL_STREAM;
  else process.env.JOURNAL_STREAM = value;
  t.after(() => {
    if (saved === undefined) delete process.env.JOURNAL_STREAM;
    else process.env.JOURNAL_STREAM = saved;
  });
}

test('stderrSink: plain lines, unless stderr is the journal: then warning, detail and the rest get their priorities', async (t) => {
  const lines = async (sink: ReturnType<typeof stderrSink>) =>
    (await caught(t, () => {
      sink.line('WARNING origin gone', true);
      sink.line('# fetched origin');
      sink.line('CONNECTED origin');
      sink.close();
    })).stderr;
  withJournal(t, undefined);
  assert.equal(await lines(stderrSink()), 'WARNING origin gone\n# fetched origin\nCONNECTED origin\n');
  withJournal(t, '8:12345');
  assert.equal(await lines(stderrSink()), '<4>WARNING origin gone\n<7># fetched origin\n<6>CONNECTED origin\n');
});

test('Starter for a service manager: a failure or another daemon there is one line on stderr and exit 1; a crash exit 70', async (t) => {
  assert.deepEqual(
    await caught(t, () => new Starter('service').failed('cannot open the log')),
    { stderr: 'git-remote-daemon: cannot open the log\n', exit: 1 },
  );
  assert.deepEqual(
    await caught(t, () => new Starter('service').already(42, 'a daemon is already running in this repository (pid 42)')),
    { stderr: 'git-remote-daemon: a daemon is already running in this repository (pid 42)\n', exit: 1 },
  );
  assert.deepEqual(await caught(t, () => new Starter('service').crashed('boom', '/r/log')), { stderr: '', exit: 70 });
  // Nothing goes to fd 3 in service mode: READY is for a starter only.
  assert.deepEqual(await caught(t, () => new Starter('service').tell('READY 1')), { stderr: '' });
});

/** A child process that drives a background Starter with `body`, started as start.ts starts the daemon. */
async function starterChild(t: TestContext, body: string) {
  const d = tempDir('grd-run-');
  t.after(d.cleanup);
  const run = pathToFileURL(join(import.meta.dirname, '../../src/background/run.js')).href;
  const script = `import { Starter } from ${JSON.stringify(run)}; const s = new Starter('background'); ${body}`;
  const report = await spawnDaemon(['--input-type=module', '-e', script], d.path, join(d.path, 'log'));
  return { report, dir: d.path };
}

// Each child loads the whole daemon's modules (~0.5 s): they run side by side.
test('Starter for a starter: warnings so far, then one line, told once; a failure is ERROR on one line; a crash says where to look; another daemon is ALREADY', async (t) => {
  const [ready, failed, crashed, already] = await Promise.all([
    // fd 3, closed once told, is the next file opened: a second tell must not write there.
    starterChild(
      t,
      `s.warned('WARNING origin one'); s.warned('WARNING * two'); s.tell('READY 7'); s.warned('WARNING late');
      const fs = await import('node:fs'); const fd = fs.openSync('other', 'w'); s.tell('READY 8'); fs.writeSync(fd, 'fd ' + fd); fs.closeSync(fd);`,
    ),
    starterChild(t, `s.warned('WARNING origin one'); s.failed('first\\nsecond');`),
    starterChild(t, `s.crashed('boom', '/r/log');`),
    starterChild(t, `s.already(undefined, 'who knows');`),
  ]);
  assert.deepEqual(ready.report, { answer: 'READY 7', warnings: ['origin one', '* two'] });
  // The child goes on after READY 7 reached us: its write of the file is the end of its script.
  const other = join(ready.dir, 'other');
  await eventually(() => existsSync(other) && readFileSync(other, 'utf8').includes('fd '), 'the child to write its file');
  assert.equal(readFileSync(other, 'utf8'), 'fd 3', 'nothing more went to fd 3');
  assert.deepEqual(failed.report, { answer: 'ERROR first second', warnings: ['origin one'] });
  assert.deepEqual(crashed.report, { answer: 'ERROR boom; see /r/log', warnings: [] });
  assert.deepEqual(already.report, { answer: 'ALREADY ?', warnings: [] });
});
