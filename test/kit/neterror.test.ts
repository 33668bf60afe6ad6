// The system's reason for a failed connection, in words, from real failed connections.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer } from 'node:net';
import { lookup } from 'node:dns/promises';
import { describeNetError } from '../../shared/kit/neterror.js';

function failedConnect(host: string, port: number): Promise<Error> {
  return new Promise((resolve) => connect(port, host).once('error', resolve));
}

test('a refused connection and a name that does not resolve read as the system says them', async () => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.equal(describeNetError(await failedConnect('127.0.0.1', port)), `connection refused (ECONNREFUSED 127.0.0.1:${port})`);
  assert.equal(describeNetError(await failedConnect('no-such-host.invalid', 5222)), 'no such host (ENOTFOUND no-such-host.invalid)');
  assert.equal(describeNetError(await lookup('no-such-host.invalid').catch((e: Error) => e)), 'no such host (ENOTFOUND no-such-host.invalid)');
  assert.equal(describeNetError(new Error('plain')), undefined);
  assert.equal(describeNetError(undefined), undefined);
});
