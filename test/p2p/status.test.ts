// A peer node whose DHT bootstrap nobody answers, seen from `status` of a real background daemon:
// a daemon-wide condition that says so (not only PEER_NOT_FOUND on the remote), --check is 2
// while it holds; once the DHT comes up on that port, it clears by itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import createTestnet from 'hyperdht/testnet.js';
import { git } from '../support/git.js';
import { eventually } from '../support/daemon.js';
import { cli, pathsOf } from '../background/support.js';
import { heldUdpPort } from '../support/ports.js';
import { makePeers } from './support.js';

test('p2p: status says the DHT is unreachable while no bootstrap node answers, --check is 2; the DHT up, it clears', async (t) => {
  const p = await makePeers(t);
  const a = p.make('a', { seed: true });
  p.make('b', { seed: true });
  p.link('a', 'b');
  const held = await heldUdpPort();
  t.after(() => held.release());
  const port = held.port;
  git(a, 'config', 'remotedaemon.p2p.bootstrap', `127.0.0.1:${port}`);
  const state = pathsOf(a).state;
  const started = await cli(a, [], p.env);
  assert.equal(started.code, 0, started.stderr);
  try {
    await eventually(() => readFileSync(state, 'utf8').includes('the DHT is unreachable'), 'the state file says the DHT is unreachable', 30_000);
    const status = (await cli(a, ['status'])).stdout.replace(/\n +/g, ' ');
    assert.match(status, new RegExp(`^warning \\(\\d+s ago\\): p2p endpoint: the DHT is unreachable: no bootstrap node answers \\(bootstrap 127\\.0\\.0\\.1:${port}\\); peers cannot be found until one does$`, 'm'));
    const check = await cli(a, ['status', '--check']);
    assert.equal(check.code, 2, check.stdout);
    assert.match(check.stdout, /^daemon: p2p endpoint: the DHT is unreachable/m);

    await held.release();
    const late = await createTestnet(3, { host: '127.0.0.1', port });
    t.after(() => late.destroy());
    await eventually(() => !readFileSync(state, 'utf8').includes('the DHT is unreachable'), 'the condition cleared', 30_000);
    assert.doesNotMatch((await cli(a, ['status', '--check'])).stdout, /DHT/);
  } finally {
    await cli(a, ['stop']);
  }
});
