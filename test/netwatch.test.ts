// Network changes, noticed as the kernel reports them (netlink through `ip monitor`), in a network
// namespace of the test's own so nothing outside it changes; and a clock jump.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { meansNewNetwork, watchNetwork } from '../src/netwatch.js';

test('which monitor lines mean a new way out', () => {
  assert.equal(meansNewNetwork('2: eth0    inet 192.0.2.5/24 brd 192.0.2.255 scope global dynamic eth0\\       valid_lft 86400sec preferred_lft 86400sec'), true);
  assert.equal(meansNewNetwork('3: wlan0    inet6 2001:db8::5/64 scope global dynamic noprefixroute \\       valid_lft 7000sec'), true);
  assert.equal(meansNewNetwork('3: wlan0    inet6 fe80::1/64 scope link \\       valid_lft forever'), false);
  assert.equal(meansNewNetwork('1: lo    inet 127.0.0.1/8 scope host lo'), false);
  assert.equal(meansNewNetwork('Deleted 2: eth0    inet 192.0.2.5/24 scope global eth0'), false);
  assert.equal(meansNewNetwork('default via 192.0.2.1 dev eth0 proto dhcp metric 100'), true);
  assert.equal(meansNewNetwork('192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.5'), false);
});

test('a new address in this network namespace is noticed through netlink', async () => {
  // A child in a namespace of its own: adding an address there touches nothing else.
  const script = fileURLToPath(new URL('./support/netwatch-child.js', import.meta.url));
  const child = spawn('unshare', ['-n', process.execPath, script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 0, out);
  assert.match(out, /^changed: network change: \d+: lo\s+inet 192\.0\.2\.1\/32 scope global lo/m);
});

test('a clock that jumps (the machine slept) counts as a change', async () => {
  const seen: string[] = [];
  let resolve!: () => void;
  const changed = new Promise<void>((r) => (resolve = r));
  const watch = watchNetwork({ changed: (why) => (seen.push(why), resolve()), log: () => {}, clockCheckMs: 50, settleMs: 10 });
  await watch.ready;
  // The watcher's timers are unref'd (they must not keep a daemon alive): hold the loop open here.
  const hold = setTimeout(() => {}, 10_000);
  // Block the event loop as a suspended machine would: the next tick comes far too late.
  const until = Date.now() + 300;
  while (Date.now() < until);
  await changed;
  clearTimeout(hold);
  watch.stop();
  assert.match(seen[0]!, /clock jumped/);
});
