// A long-lived child tied to our life (shared/kit/tied.ts): where setpriv is on PATH the command
// runs under `setpriv --pdeathsig KILL`, and the command it runs really is killed when the thread
// that started it dies; where it is not, the command line is left as it was.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tiedToOurLife } from '../../shared/kit/tied.js';
import { eventually } from '../support/daemon.js';
import { alive } from '../support/procs.js';

const hasSetpriv = spawnSync('sh', ['-c', 'command -v setpriv'], { stdio: 'ignore' }).status === 0;

test('the command runs as itself, its arguments untouched, under setpriv where there is one', () => {
  const tied = tiedToOurLife('ip', ['monitor', '--', '-x y']);
  if (hasSetpriv) assert.deepEqual(tied, { file: 'setpriv', args: ['--pdeathsig', 'KILL', '--', 'ip', 'monitor', '--', '-x y'] });
  else assert.deepEqual(tied, { file: 'ip', args: ['monitor', '--', '-x y'] });
});

test('a tied command is killed when the process that started it dies, even by kill -9', { skip: !hasSetpriv && 'no setpriv on PATH' }, async (t) => {
  // A middle process starts the tied `sleep` (same pid under setpriv: it execs) and prints its pid.
  const tied = tiedToOurLife('sleep', ['60']);
  const script = `const c = require('node:child_process').spawn(${JSON.stringify(tied.file)}, ${JSON.stringify(tied.args)}, { stdio: 'ignore' }); console.log(c.pid);`;
  const middle = spawn(process.execPath, ['-e', `${script} setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => middle.kill('SIGKILL'));
  const pid = await new Promise<number>((resolve) => middle.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim()))));
  await eventually(() => readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sleep\0'), 'setpriv to exec the command');
  middle.kill('SIGKILL');
  await eventually(() => !alive(pid), 'the tied command killed with its parent');
});
