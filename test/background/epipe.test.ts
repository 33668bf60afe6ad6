// A reader that goes away (`git remote-daemon log | head`, `status | head -0`) ends a client
// command normally: exit 0, no stack trace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { BIN } from '../support/daemon.js';
import { LogFile } from '../../src/background/log.js';
import { backgroundFixture, type CliResult } from './support.js';

/** Runs the CLI with its stdout a pipe whose read end is closed before the command writes. */
function withClosedStdout(cwd: string, args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout: '', stderr }));
  });
}

test('log, log -f, status and stop end with exit 0 when nobody reads their output', async (t) => {
  const fx = backgroundFixture(t);
  mkdirSync(fx.paths.dir, { mode: 0o700 });
  const log = new LogFile(fx.paths.log, fx.paths.oldLog);
  // More than a pipe holds, so `log` is still writing when the reader is long gone.
  for (let i = 0; i < 2000; i++) log.write(`line ${i} ${'x'.repeat(60)}`);
  log.close();
  for (const args of [['log'], ['log', '-f'], ['status'], ['status', '--json'], ['stop']]) {
    const r = await withClosedStdout(fx.local, args);
    assert.equal(r.code, 0, `${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /EPIPE|Error/, args.join(' '));
  }
});
