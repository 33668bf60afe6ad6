// The control FIFO: writers that come and go, at once or one after another, and writers that
// misbehave, must never block or stop the reader; whole lines of up to PIPE_BUF arrive whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../support/git.js';
import { eventually } from '../support/daemon.js';
import { FifoReader, PIPE_BUF, makeFifo, writeControlLine } from '../../src/background/fifo.js';
import { formatConsumed, type Consumed } from '../../src/protocol.js';
import { alive, backgroundFixture, cli, logLines, pidFrom, sh, waitForLog } from './support.js';

function reader(t: { after(fn: () => unknown): void }, partialLineMs = 100) {
  const dir = tempDir();
  const path = join(dir.path, 'control');
  makeFifo(path);
  const messages: string[] = [];
  const problems: string[] = [];
  const r = new FifoReader(path, { message: (m: Consumed) => messages.push(formatConsumed(m)), badLine: (p) => problems.push(p) }, partialLineMs);
  t.after(() => {
    r.close();
    dir.cleanup();
  });
  return { path, messages, problems };
}

test('writers that open and close without writing change nothing; the next line still arrives', async (t) => {
  const { path, messages, problems } = reader(t);
  for (let i = 0; i < 50; i++) closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
  assert.equal(await sh('/', `for i in 1 2 3 4 5; do : > '${path}'; done`), 0);
  await writeControlLine(path, 'RELOAD');
  await eventually(() => messages.length === 1, 'RELOAD read');
  assert.deepEqual(messages, ['RELOAD']);
  assert.deepEqual(problems, []);
});

test('a writer that dies half-way through a line: the fragment is dropped, the next writer is heard', async (t) => {
  const { path, messages, problems } = reader(t);
  assert.equal(await sh('/', `printf 'REL' > '${path}'`), 0); // writes, exits without the newline
  await eventually(() => problems.length === 1, 'fragment dropped');
  assert.match(problems[0], /unfinished line of 3 bytes dropped/);
  assert.equal(await sh('/', `echo PAUSE > '${path}'`), 0);
  await eventually(() => messages.length === 1, 'PAUSE read');
  assert.deepEqual(messages, ['PAUSE'], 'not glued to the fragment');
});

test('a fragment followed at once by another line makes one bad line, never a wrong message, and later lines are fine', async (t) => {
  const { path, messages, problems } = reader(t, 5000);
  assert.equal(await sh('/', `printf 'PAU' > '${path}'; echo STOP > '${path}'; echo RESUME > '${path}'`), 0);
  await eventually(() => messages.length === 1 && problems.length === 1, 'both read');
  assert.deepEqual(messages, ['RESUME']);
  assert.match(problems[0], /unknown message "PAUSTOP"/);
});

test('50 writer processes at once: every line arrives whole; 4000-byte lines are not torn', async (t) => {
  const { path, messages, problems } = reader(t);
  const big = (i: number) => `CHANGED ${Array.from({ length: 200 }, (_, j) => `refs/heads/w${String(i).padStart(2, '0')}-${String(j).padStart(4, '0')}`).join(' ')}`;
  assert.ok(Buffer.byteLength(big(0)) + 1 <= PIPE_BUF && Buffer.byteLength(big(0)) > 3900);
  const script = Array.from({ length: 50 }, (_, i) => `echo 'CHANGED refs/heads/p${i}' > '${path}' &`).join('\n') + '\nwait';
  await Promise.all([sh('/', script), ...Array.from({ length: 50 }, (_, i) => writeControlLine(path, big(i)))]);
  await eventually(() => messages.length === 100, `100 lines read (have ${messages.length}, problems ${problems.length})`);
  assert.deepEqual(problems, []);
  assert.deepEqual(
    messages.filter((m) => m.length < 100).sort(),
    Array.from({ length: 50 }, (_, i) => `CHANGED refs/heads/p${i}`).sort(),
  );
  assert.deepEqual(messages.filter((m) => m.length >= 100).sort(), Array.from({ length: 50 }, (_, i) => big(i)).sort());
});

test('a writer that keeps the pipe open, and an overlong line, block nobody', async (t) => {
  const { path, messages, problems } = reader(t);
  const held = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  t.after(() => closeSync(held));
  writeSync(held, 'PAU'); // and then it just sits there with the pipe open
  // 70 KB in one line, written in many pieces by one process: refused, never buffered whole.
  assert.equal(await sh('/', `{ printf CHANGED; head -c 70000 /dev/zero | tr '\\0' x; echo; } > '${path}'`), 0);
  await eventually(() => problems.some((p) => /line of 7\d{4} bytes is longer than/.test(p)), `overlong line refused: ${problems.join(' | ')}`);
  await writeControlLine(path, 'LOSTNET');
  await eventually(() => messages.includes('LOSTNET'), 'LOSTNET read');
  assert.equal(messages.some((m) => m.startsWith('CHANGED')), false);
  await assert.rejects(writeControlLine(path, `CHANGED ${'z'.repeat(PIPE_BUF)}`), /at most 4096/);
});

test('the daemon survives writers that vanish and half lines, and keeps obeying the pipe', async (t) => {
  const fx = backgroundFixture(t);
  const pid = pidFrom((await cli(fx.local, [])).stdout);
  await waitForLog(fx.paths, 'CONNECTED origin');
  const control = fx.paths.control;
  assert.equal(await sh(fx.local, `for i in $(seq 20); do : > '${control}'; done; printf 'RELO' > '${control}'`), 0);
  await waitForLog(fx.paths, /^WARNING \* bad control message: unfinished line of 4 bytes dropped/);
  assert.equal(alive(pid), true);
  // Concurrent senders through the CLI, each one atomic write.
  const sends = await Promise.all(Array.from({ length: 10 }, (_, i) => cli(fx.local, ['send', 'CHANGED', `refs/heads/s${i}`])));
  for (const s of sends) assert.equal(s.code, 0, s.stderr);
  await waitForLog(fx.paths, /^# control pipe: CHANGED refs\/heads\/s\d$/, 10);
  assert.equal(await sh(fx.local, `echo RELOAD > '${control}'`), 0);
  await waitForLog(fx.paths, '# control pipe: RELOAD');
  assert.equal(logLines(fx.paths).filter((l) => l.startsWith('WARNING')).length, 1, logLines(fx.paths).join('\n'));
  assert.equal(await sh(fx.local, `echo STOP > '${control}'`), 0);
  await eventually(() => !alive(pid), 'STOP through the pipe ends the daemon');
  assert.equal(logLines(fx.paths).at(-1), '# stopped');
});
