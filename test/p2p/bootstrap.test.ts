// workers/p2p/bootstrap.ts: what `git remote-daemon p2p bootstrap` accepts as the one address and
// port it binds. Only the checks, which come before hyperdht is loaded: a bad --host or --port is
// a clear error and no socket (the unit run's guard would fail a UDP socket; none is asked for).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { badBootstrapHost, DEFAULT_BOOTSTRAP_PORT, startBootstrapNode } from '../../workers/p2p/bootstrap.js';

test('a dotted IPv4 address is a bootstrap host', () => {
  for (const host of ['127.0.0.1', '192.168.1.20', '10.0.0.255', '255.255.255.255', '1.2.3.4']) assert.equal(badBootstrapHost(host), undefined, host);
});

test('anything else is refused with what was given, quoted', () => {
  for (const host of ['localhost', '::1', '[::1]', '256.1.1.1', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1.2.3.04', ' 1.2.3.4', '1.2.3.4\n', '', '1.2.3.4:80', '1.2.3.1000']) {
    const why = badBootstrapHost(host);
    assert.ok(why, JSON.stringify(host));
    assert.match(why, /^--host must be an IPv4 address \(hyperdht's DHT is IPv4 only\), got /);
    assert.ok(why.endsWith(JSON.stringify(host)), why);
  }
});

test('0.0.0.0 is refused: a bootstrap node announces the one address it binds', () => {
  assert.match(badBootstrapHost('0.0.0.0') ?? '', /not 0\.0\.0\.0 \(every interface\)/);
});

test('startBootstrapNode refuses a bad host or port before it loads hyperdht', async () => {
  await assert.rejects(startBootstrapNode('localhost', DEFAULT_BOOTSTRAP_PORT), /--host must be an IPv4 address/);
  await assert.rejects(startBootstrapNode('0.0.0.0', DEFAULT_BOOTSTRAP_PORT), /not 0\.0\.0\.0/);
  for (const port of [0, -1, 65536, 1.5, Number.NaN]) {
    await assert.rejects(startBootstrapNode('127.0.0.1', port), new RegExp(`^Error: --port must be a port number \\(1-65535\\), got ${port}$`));
  }
});
