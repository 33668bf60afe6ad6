// What a server can make the transport hold: a 10 MiB garbage answer is refused at its first bytes,
// an endless stream of well-formed ref lines is cut at the answer bound, and both fail the listing
// with a clear error instead of growing memory or hanging.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startGitHttp } from '../support/githttp.js';
import { DEFAULT_LIMITS } from '../../workers/http/options.js';
import { connect, makeRepos } from './fixture.js';
import { liveHeap } from '../support/heap.js';

test('a 10 MiB garbage answer: refused at its first bytes', async (t) => {
  const repos = makeRepos(t);
  const server = await startGitHttp({ root: repos.served });
  t.after(() => server.stop());
  server.mode = { kind: 'garbage', bytes: 10 * 1024 * 1024 };
  const heapBefore = liveHeap();
  await assert.rejects(connect(t, repos, { url: `${server.base}/repo.git` }), /not a git protocol stream/);
  await server.until('the client to hang up instead of reading it all', () => server.hangups >= 1);
  assert.ok(liveHeap() - heapBefore < 8 * 1024 * 1024, 'the answer was not kept');
});

test('an endless chunked answer of ref lines is cut at the bound', async (t) => {
  const repos = makeRepos(t);
  const server = await startGitHttp({ root: repos.served });
  t.after(() => server.stop());
  server.mode = { kind: 'endless' };
  const maxBytes = 2 * 1024 * 1024;
  const started = Date.now();
  await assert.rejects(connect(t, repos, { url: `${server.base}/repo.git`, limits: { maxBytes } }), new RegExp(`over ${maxBytes} bytes`));
  assert.ok(Date.now() - started < 10_000);
  await server.until('the client to hang up', () => server.hangups >= 1);
  assert.ok(server.sent < maxBytes + 8 * 1024 * 1024, `stopped reading soon after the bound (server wrote ${server.sent} bytes)`);
});

test('the default bound holds too', async (t) => {
  assert.equal(DEFAULT_LIMITS.maxBytes, 16 * 1024 * 1024);
  const repos = makeRepos(t);
  const server = await startGitHttp({ root: repos.served });
  t.after(() => server.stop());
  server.mode = { kind: 'endless' };
  await assert.rejects(connect(t, repos, { url: `${server.base}/repo.git` }), /over 16777216 bytes/);
});

test('a server that accepts and never answers: the listing gives up after the timeout', async (t) => {
  const repos = makeRepos(t);
  const silent = net.createServer(() => {});
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    silent.close();
  });
  const port = (silent.address() as net.AddressInfo).port;
  await assert.rejects(connect(t, repos, { url: `http://127.0.0.1:${port}/repo.git`, limits: { timeoutMs: 500 } }), /no answer .* within 0.5 s/);
});
