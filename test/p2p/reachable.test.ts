// Coming back from "unreachable" without RESUME: a remote that backs off because the DHT did not
// answer retries once it does (a loopback DHT that comes up late), and one that backs off because
// its peer was away retries the moment that peer links to us.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import createTestnet from 'hyperdht/testnet.js';
import { git, refValue } from '../support/git.js';
import { startDaemon } from '../support/daemon.js';
import { heldUdpPort } from '../support/ports.js';
import { logged, makePeers } from './support.js';

test('a remote that failed while no DHT node answered connects once the DHT comes up, without RESUME', async (t) => {
  const p = await makePeers(t);
  const a = p.make('a', { seed: true });
  const b = p.make('b', { seed: true });
  p.link('a', 'b');
  // B serves A but does not fetch from it: nothing dials A, so only the DHT coming back can help.
  git(b, 'config', 'remotedaemon.p2p.allow', p.address('a'));
  const held = await heldUdpPort();
  t.after(() => held.release());
  const port = held.port;
  for (const repo of [a, b]) git(repo, 'config', 'remotedaemon.p2p.bootstrap', `127.0.0.1:${port}`);
  // A loopback address of A's own: a DHT node of a test running beside this one may still list
  // 127.0.0.1 at the port A binds (a daemon of its that used it before), ask A, and so fill A's
  // routing table while no bootstrap node answers.
  git(a, 'config', 'remotedaemon.p2p.host', `127.${1 + (process.pid % 250)}.${Math.floor(Math.random() * 250) + 1}.1`);
  const da = startDaemon(a, ['--foreground', '--verbose'], p.env);
  t.after(() => da.stop());
  await logged(da, /no DHT node answers/, 30_000);
  await da.waitFor(/^WARNING b cannot connect: could not reach the peer/, { timeoutMs: 40_000 });
  // The DHT comes up late, on the port A was told; then B, which announces itself on it.
  await held.release();
  const late = await createTestnet(3, { host: '127.0.0.1', port });
  t.after(() => late.destroy());
  const up = Date.now();
  const db = startDaemon(b, ['--foreground', '--verbose'], p.env);
  t.after(() => db.stop());
  await logged(da, /the DHT answers again/, 20_000);
  await logged(da, /^b: the DHT answers again: trying again/, 5000);
  await da.waitFor('CONNECTED b', { timeoutMs: 40_000 });
  t.diagnostic(`DHT up -> CONNECTED b: ${Date.now() - up} ms (B's daemon started meanwhile)`);
  await da.waitFor('DONESYNCING b 1', { timeoutMs: 20_000 });
  assert.equal(refValue(a, 'refs/remotes/b/main'), refValue(b, 'refs/heads/main'));
});

test('a remote backing off because its peer was away retries the moment that peer links to us', async (t) => {
  const p = await makePeers(t);
  const a = p.make('a', { seed: true });
  const b = p.make('b', { seed: true });
  p.link('a', 'b');
  p.link('b', 'a');
  // B holds its user's identity (a clone made with git clone p2p://), so it dials and is dialled by
  // none: A's own retries cannot reach it, and only the link B makes can end A's backoff.
  const config = join(p.root, 'home-b', 'config');
  mkdirSync(join(config, 'git-remote-daemon'), { recursive: true, mode: 0o700 });
  writeFileSync(join(config, 'git-remote-daemon', 'p2p-key'), readFileSync(join(b, '.git', 'remote-daemon', 'p2p-key')), { mode: 0o600 });
  const da = startDaemon(a, ['--foreground', '--verbose'], p.env);
  t.after(() => da.stop());
  await da.waitFor(/^WARNING b cannot connect: could not reach the peer/, { timeoutMs: 40_000 });
  const from = da.stderr.length;
  const db = startDaemon(b, ['--foreground', '--verbose'], { ...p.env, XDG_CONFIG_HOME: config });
  t.after(() => db.stop());
  await logged(db, /peer node up .*your user identity/);
  // B's remote dials A; A's node holds the link B made, and A's remote stops waiting for its own.
  const linked = await logged(da, /linked to .* \(it dialled\)/, 40_000, from);
  assert.ok(linked);
  const linkedAt = Date.now();
  await logged(da, /^b: the peer linked to us: trying again/, 5000, from);
  await da.waitFor('CONNECTED b', { timeoutMs: 10_000 });
  t.diagnostic(`link seen -> CONNECTED b: ${Date.now() - linkedAt} ms`);
  await da.waitFor('DONESYNCING b 1', { timeoutMs: 20_000 });
});
