// A repository's control pipe as its host reads it (src/background/controlpipe.ts), on a real FIFO
// in a temporary directory with a fake daemon: what arrives before the daemon is up waits for it in
// order, RELOAD goes to the host, and a deleted or replaced FIFO is noticed and made again.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ControlPipe } from '../../src/background/controlpipe.js';
import { makeFifo, writeControlLine } from '../../src/background/fifo.js';
import { formatConsumed, type Consumed } from '../../src/protocol.js';
import type { Daemon } from '../../src/daemon.js';
import { tempDir } from '../support/git.js';
import { eventually } from '../support/daemon.js';

interface Heard {
  received: string[];
  reloads: number;
  /** What the daemon was handed: messages as lines, bad lines as `bad: <problem>`. */
  daemon: string[];
}

function pipe(t: TestContext): { path: string; pipe: ControlPipe; heard: Heard; daemon: Daemon } {
  const d = tempDir('grd-controlpipe-');
  const path = join(d.path, 'control');
  const heard: Heard = { received: [], reloads: 0, daemon: [] };
  const control = new ControlPipe(path, {
    received: (m: Consumed) => heard.received.push(formatConsumed(m)),
    reload: () => heard.reloads++,
  });
  t.after(() => {
    control.close();
    d.cleanup();
  });
  const daemon = {
    control: {
      onMessage: (m: Consumed) => heard.daemon.push(formatConsumed(m)),
      onBadLine: (problem: string) => heard.daemon.push(`bad: ${problem}`),
    },
  } as unknown as Daemon;
  return { path, pipe: control, heard, daemon };
}

test('what arrives before the daemon is up waits for it, in order; later messages go straight to it', async (t) => {
  const { path, pipe: control, heard, daemon } = pipe(t);
  await writeControlLine(path, 'PAUSE');
  await writeControlLine(path, 'no such message');
  await writeControlLine(path, 'FETCH origin');
  await eventually(() => heard.received.length === 2, 'both messages read');
  assert.deepEqual(heard.received, ['PAUSE', 'FETCH origin'], 'the host hears of each message at once');
  assert.deepEqual(heard.daemon, [], 'nothing is handed to a daemon not up');
  control.deliverTo(daemon);
  assert.equal(heard.daemon.length, 3);
  assert.deepEqual(heard.daemon[0], 'PAUSE');
  assert.match(heard.daemon[1], /^bad: /);
  assert.deepEqual(heard.daemon[2], 'FETCH origin');
  await writeControlLine(path, 'RESUME');
  await eventually(() => heard.daemon.length === 4, 'RESUME handed on');
  assert.equal(heard.daemon[3], 'RESUME');
});

test('RELOAD goes to the host, not to the daemon, before and after it is up', async (t) => {
  const { path, pipe: control, heard, daemon } = pipe(t);
  await writeControlLine(path, 'RELOAD');
  await eventually(() => heard.received.length === 1, 'RELOAD read');
  assert.equal(heard.reloads, 0, 'it waits for the daemon too');
  control.deliverTo(daemon);
  assert.equal(heard.reloads, 1);
  await writeControlLine(path, 'RELOAD');
  await eventually(() => heard.reloads === 2, 'the second RELOAD');
  assert.deepEqual(heard.daemon, []);
  assert.deepEqual(heard.received, ['RELOAD', 'RELOAD']);
});

test('a deleted or replaced FIFO is noticed; remade, it is read again', async (t) => {
  const { path, pipe: control, heard, daemon } = pipe(t);
  control.deliverTo(daemon);
  assert.equal(control.inPlace(), true);
  unlinkSync(path);
  assert.equal(control.inPlace(), false, 'deleted');
  makeFifo(path);
  assert.equal(control.inPlace(), false, 'another FIFO under its name, which this reader does not read');
  unlinkSync(path);
  writeFileSync(path, 'RELOAD\n'); // `echo RELOAD > control` with no FIFO there makes a file
  assert.equal(control.inPlace(), false, 'a regular file in its place');
  control.remake();
  assert.equal(control.inPlace(), true);
  await writeControlLine(path, 'STOP');
  await eventually(() => heard.daemon.length === 1, 'STOP through the new FIFO');
  assert.deepEqual(heard.daemon, ['STOP']);
});

test('a control pipe that cannot be made says so, naming it', (t) => {
  const d = tempDir('grd-controlpipe-');
  t.after(d.cleanup);
  const path = join(d.path, 'missing', 'control');
  assert.throws(() => new ControlPipe(path, { received: () => {}, reload: () => {} }), (err: Error) => err.message.startsWith(`cannot create the control pipe ${path}: `));
});
