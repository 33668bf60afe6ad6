// workers/p2p/settings.ts: the daemon-wide p2p settings as read from git's config (who may talk to
// us, what we fetch from whom, the DHT options), and the problems a wrong value is reported as.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { GitConfig } from '../../shared/gitconfig.js';
import { addressOf } from '../../workers/p2p/address.js';
import { DEFAULT_SHOW } from '../../workers/p2p/shown.js';
import { dhtOptions, parseBootstrap, readSettings } from '../../workers/p2p/settings.js';

const K1 = '11'.repeat(32);
const K2 = '22'.repeat(32);
const K3 = '33'.repeat(32);

test('no p2p remote and nothing allowed: no settings, so no node', () => {
  assert.equal(readSettings(new Map()), undefined);
  const config: GitConfig = new Map([
    ['remote.origin.url', ['git@github.com:a/b.git']],
    ['remote.off.url', [`p2p://${K1}`]],
    ['remote.off.remotedaemon', ['false']],
  ]);
  assert.equal(readSettings(config), undefined, 'a p2p remote the daemon does not watch allows nobody');
});

test('peers from p2p remotes (one per key, their fetch refspecs gathered), allow entries, and the URLs of the other remotes', () => {
  const config: GitConfig = new Map([
    ['remote.origin.url', ['git@github.com:a/b.git']],
    ['remote.mirror.url', ['https://user:secret@GitHub.com/a/b/']],
    ['remote.local.url', ['../relative']],
    ['remote.one.url', [`p2p://${K1}`]],
    ['remote.one.fetch', ['+refs/heads/*:refs/remotes/one/*']],
    ['remote.again.url', [addressOf(K1)]], // the same key, spelled in z-base-32
    ['remote.again.fetch', ['+refs/tags/*:refs/tags/*']],
    ['remote.short.url', ['peer:']],
    [`url.p2p://${K3}.insteadof`, ['peer:']],
    ['remote.broken.url', ['p2p://nokey']],
    ['remotedaemon.p2p.allow', [K2, 'junk']],
  ]);
  const read = readSettings(config);
  assert.ok(read);
  assert.deepEqual(read.settings, {
    reachable: false,
    allowed: [K1, K2, K3],
    peers: [
      { key: K1, fetch: ['+refs/heads/*:refs/remotes/one/*', '+refs/tags/*:refs/tags/*'] },
      { key: K3, fetch: [] },
    ],
    show: { show: DEFAULT_SHOW, hide: [] },
    urls: ['github.com/a/b'],
  });
  assert.deepEqual(read.problems, ['remotedaemon.p2p.allow: "junk" is not a peer key or p2p:// address; ignored']);
});

test('bootstrap, port, host and reachable: read when right, reported and left at the default when wrong', () => {
  const base: [string, string[]][] = [['remotedaemon.p2p.allow', [K1]]];
  const good = readSettings(
    new Map([
      ...base,
      ['remotedaemon.p2p.bootstrap', ['ignored:1', 'node.example:49737, [::1]:1']],
      ['remotedaemon.p2p.port', ['4000']],
      ['remotedaemon.p2p.host', ['127.0.0.1']],
      ['remotedaemon.p2p.reachable', ['yes']],
      ['remotedaemon.p2p.show', ['refs/heads/main', '!refs/heads/secret*']],
    ]),
  )!;
  assert.deepEqual(good.problems, []);
  assert.deepEqual(good.settings.bootstrap, [
    { host: 'node.example', port: 49737 },
    { host: '::1', port: 1 },
  ]);
  assert.equal(good.settings.port, 4000);
  assert.equal(good.settings.host, '127.0.0.1');
  assert.equal(good.settings.reachable, true);
  assert.deepEqual(good.settings.show, { show: ['refs/heads/main'], hide: ['refs/heads/secret*'] });

  const bad = readSettings(
    new Map([
      ...base,
      ['remotedaemon.p2p.bootstrap', ['node.example']],
      ['remotedaemon.p2p.port', ['65536']],
      ['remotedaemon.p2p.reachable', ['maybe']],
    ]),
  )!;
  assert.equal(bad.settings.bootstrap, undefined);
  assert.equal(bad.settings.port, undefined);
  assert.equal(bad.settings.reachable, false);
  assert.deepEqual(bad.problems, [
    'remotedaemon.p2p.bootstrap: expected host:port[,host:port...], got "node.example"; using the defaults',
    'remotedaemon.p2p.port: "65536" is not a port number; ignored',
    'remotedaemon.p2p.reachable is not a boolean: "maybe"',
  ]);
});

test('a bootstrap list: host:port entries, IPv6 in brackets, ports 1 to 65535', () => {
  assert.deepEqual(parseBootstrap('a:1,  b.example:65535 ,'), [
    { host: 'a', port: 1 },
    { host: 'b.example', port: 65535 },
  ]);
  assert.deepEqual(parseBootstrap('[fe80::1]:49737'), [{ host: 'fe80::1', port: 49737 }]);
  for (const text of ['', ' , ', 'a', 'a:', 'a:0', 'a:65536', 'a:123456', ':1', 'a:1,b']) {
    assert.equal(parseBootstrap(text), undefined, JSON.stringify(text));
  }
});

test('DHT options: only what is set, and a reachable node joins as a full node', () => {
  assert.deepEqual(dhtOptions({ reachable: false }), {});
  assert.deepEqual(dhtOptions({ reachable: true, bootstrap: [{ host: 'a', port: 1 }], port: 4000, host: '0.0.0.0' }), {
    bootstrap: [{ host: 'a', port: 1 }],
    port: 4000,
    host: '0.0.0.0',
    ephemeral: false,
    firewalled: false,
  });
});
