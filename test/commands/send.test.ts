// `send` (src/commands/send.ts) against a stand-in daemon, this process: a message is checked
// before anything else is looked at, arrives whole as one line on the control pipe, and each way
// of not getting there has its own exit code and words.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { NOT_RUNNING, REFUSED, sendCommand } from '../../src/commands/send.js';
import { makeFifo, PIPE_BUF } from '../../src/background/fifo.js';
import { pipeReader, repoHere, standIn } from '../support/standin.js';

test('a message the daemon would refuse is refused first: no repository or daemon is even looked for', async () => {
  const nowhere = '/nonexistent/grd-send';
  for (const line of ['', 'BOGUS', 'PAUSE\tnow', 'CHANGED']) {
    const result = await sendCommand(nowhere, line);
    assert.equal(result.code, REFUSED, JSON.stringify(line));
    assert.match(result.message!, /^not a message the daemon accepts: /);
  }
});

test('a message too long to arrive whole through the pipe is refused, and nothing is written', async (t) => {
  const { repo, paths } = repoHere(t);
  await standIn(t, paths, 'background');
  const pipe = pipeReader(t, paths);
  const refs = Array.from({ length: 200 }, (_, i) => `refs/heads/branch-with-a-long-name-${i}`);
  const line = `CHANGED ${refs.join(' ')}`;
  assert.ok(Buffer.byteLength(line) + 1 > PIPE_BUF);
  const result = await sendCommand(repo, line);
  assert.equal(result.code, REFUSED);
  assert.match(result.message!, new RegExp(`^message is ${Buffer.byteLength(line) + 1} bytes; at most ${PIPE_BUF}`));
  assert.equal(pipe.read(), '');
});

test('the longest message that fits goes through', async (t) => {
  const { repo, paths } = repoHere(t);
  await standIn(t, paths, 'background');
  const pipe = pipeReader(t, paths);
  const line = `CHANGED refs/heads/${'x'.repeat(PIPE_BUF - 'CHANGED refs/heads/'.length - 1)}`;
  assert.equal(Buffer.byteLength(line) + 1, PIPE_BUF);
  assert.deepEqual(await sendCommand(repo, line), { code: 0, pid: process.pid });
  assert.equal(pipe.read(), `${line}\n`);
});

test('to a background daemon: one line on its pipe, and its pid back', async (t) => {
  const { repo, paths } = repoHere(t);
  await standIn(t, paths, 'background');
  const pipe = pipeReader(t, paths);
  assert.deepEqual(await sendCommand(join(repo, '.'), 'PAUSE'), { code: 0, pid: process.pid });
  assert.deepEqual(await sendCommand(repo, 'FETCH origin'), { code: 0, pid: process.pid });
  assert.equal(pipe.read(), 'PAUSE\nFETCH origin\n');
});

test('no daemon: NOT_RUNNING, and no pipe is made', async (t) => {
  const { repo, paths } = repoHere(t);
  assert.deepEqual(await sendCommand(repo, 'RELOAD'), { code: NOT_RUNNING, message: 'no daemon is running in this repository' });
  assert.equal(existsSync(paths.control), false);
});

test('a --foreground daemon takes messages on its stdin: told so, exit 1', async (t) => {
  const { repo, paths } = repoHere(t);
  await standIn(t, paths, 'foreground');
  const result = await sendCommand(repo, 'RESUME');
  assert.equal(result.code, 1);
  assert.match(result.message!, new RegExp(`^the daemon here \\(pid ${process.pid}\\) runs with --foreground: it takes messages on its stdin`));
  assert.equal(existsSync(paths.control), false);
});

test('a daemon whose pipe is gone, or that nobody reads: exit 1 with why, and its pid', async (t) => {
  const { repo, paths } = repoHere(t);
  await standIn(t, paths, 'service');
  assert.deepEqual(await sendCommand(repo, 'PAUSE'), { code: 1, message: `no control pipe at ${paths.control}: is the daemon running?`, pid: process.pid });
  makeFifo(paths.control);
  assert.deepEqual(await sendCommand(repo, 'PAUSE'), { code: 1, message: 'no daemon is reading the control pipe', pid: process.pid });
});

test('outside a repository a good message is an error (git\'s words), not a refusal', async (t) => {
  const { repo } = repoHere(t);
  await assert.rejects(sendCommand(join(repo, '..'), 'PAUSE'), /not a git repository/i);
});
