// workers/strayprints.ts: what a library prints inside a remote's worker goes to the session's log,
// never to the worker's stdout (the control protocol). Run in a worker thread of its own, as in
// the daemon: patching this test process's stdout would swallow the test runner's report.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';

const MODULE = new URL('../../workers/strayprints.js', import.meta.url).href;

/** Runs `body` (an async function body with `capture` and `done(result)` in scope) in a worker; its result and what reached its real stdout and stderr. */
async function inWorker(body: string): Promise<{ result: unknown; stdout: string; stderr: string }> {
  const code = `
    const { parentPort } = require('node:worker_threads');
    import(${JSON.stringify(MODULE)}).then(async ({ captureStrayPrints: capture }) => {
      const done = (result) => parentPort.postMessage(result);
      ${body}
    }).catch((err) => parentPort.postMessage({ error: String(err && err.stack || err) }));`;
  const worker = new Worker(code, { eval: true, stdout: true, stderr: true });
  let stdout = '';
  let stderr = '';
  worker.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  worker.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const [result] = (await once(worker, 'message')) as [unknown];
  await worker.terminate();
  return { result, stdout, stderr };
}

test("prints on stdout and stderr go to the sink, not to the worker's streams", async () => {
  const { result, stdout, stderr } = await inWorker(`
    const got = [];
    const release = capture((text) => got.push(text));
    const returned = process.stdout.write('one\\n');
    process.stderr.write(Buffer.from('two\\n'));
    console.log('three');
    console.error('four');
    release();
    done({ got, returned });`);
  assert.deepEqual(result, { got: ['one\n', 'two\n', 'three\n', 'four\n'], returned: true });
  assert.equal(stdout, '');
  assert.equal(stderr, '');
});

test("a write's callback is called, in either place it may be given", async () => {
  const { result } = await inWorker(`
    const release = capture(() => {});
    const called = [];
    process.stdout.write('a', () => called.push('no encoding'));
    process.stdout.write('b', 'utf8', () => called.push('with encoding'));
    await new Promise((resolve) => setImmediate(resolve));
    release();
    done(called);`);
  assert.deepEqual(result, ['no encoding', 'with encoding']);
});

test("a reused thread: the next session's sink replaces the last, and the last one's release leaves it in place", async () => {
  const { result, stdout } = await inWorker(`
    const first = [];
    const second = [];
    const releaseFirst = capture((text) => first.push(text));
    process.stdout.write('to first');
    const releaseSecond = capture((text) => second.push(text));
    process.stdout.write('to second');
    releaseFirst(); // late: the first session ended after the second began
    process.stdout.write('still second');
    releaseSecond();
    process.stdout.write('to nobody');
    done({ first, second });`);
  assert.deepEqual(result, { first: ['to first'], second: ['to second', 'still second'] });
  assert.equal(stdout, '', 'with no session, a print is dropped rather than reaching the protocol stream');
});
