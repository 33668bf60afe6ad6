// Failures: a peer killed outright (DISCONNECTED, backoff, catch-up when it is back), our own
// peer node killed (the daemon lives on, reports it, restarts it), and a key file others can read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { createSocket } from 'node:dgram';
import { commit, git, refValue } from '../support/git.js';
import { startDaemon } from '../support/daemon.js';
import { DAEMON, logged, makePeers, twoPeers } from './support.js';

const nodePid = async (d: { stderr: string[] }, from = 0) => Number(/peer node up \(pid (\d+)\)/.exec(await logged(d, /peer node up \(pid \d+\)/, 20_000, from))![1]);

test('a peer killed with -9: DISCONNECTED, then back off, reconnect and catch up when it returns', async (t) => {
  const p = await makePeers(t);
  const a = p.make('a', { seed: true });
  const b = p.make('b', { seed: true });
  p.link('a', 'b');
  p.link('b', 'a');
  const da = startDaemon(a, ['--foreground', '--verbose'], p.env);
  let db = startDaemon(b, ['--foreground', '--verbose'], p.env);
  t.after(() => Promise.all([da.stop(), db.stop()]));
  await da.waitFor('DONESYNCING b 1', { timeoutMs: 30_000 });
  const bNode = await nodePid(db);
  db.child.kill('SIGKILL');
  process.kill(bNode, 'SIGKILL');
  await da.waitFor('DISCONNECTED b', { timeoutMs: 15_000 });
  const sha = commit(b, 'made while A could not see B');
  // A tries again while B is away, fails, and backs off.
  await logged(da, /^b: cannot connect: could not reach the peer/, 40_000);
  const from = da.lines.length;
  db = startDaemon(b, ['--foreground', '--verbose'], p.env);
  await da.waitFor('CONNECTED b', { from, timeoutMs: 60_000 });
  await da.waitFor('DONESYNCING b 1', { from, timeoutMs: 20_000 });
  assert.equal(refValue(a, 'refs/remotes/b/main'), sha);
});

test('our peer node killed with -9: the daemon lives on, reports it, restarts the node and the link', async (t) => {
  const { a, b, da, db } = await twoPeers(t);
  const before = da.stderr.length;
  const from = da.lines.length;
  process.kill(await nodePid(da), 'SIGKILL');
  await da.waitFor('DISCONNECTED b', { from, timeoutMs: 10_000 });
  await da.waitFor(/^WARNING \* the p2p endpoint failed \(the peer node exited \(SIGKILL\)\); restarting in/, { from, timeoutMs: 10_000 });
  const restarted = await nodePid(da, before);
  assert.ok(restarted > 0);
  await da.waitFor('CONNECTED b', { from, timeoutMs: 60_000 });
  const sha = commit(b, 'after the restart');
  await da.waitFor((l) => l === 'DONESYNCING b 1' && refValue(a, 'refs/remotes/b/main') === sha, { from, timeoutMs: 20_000 });
  assert.equal(da.child.exitCode, null, 'the daemon is still running');
});

test('a key file others can read is refused, by the daemon and by p2p address, until it is fixed', async (t) => {
  const p = await makePeers(t);
  const a = p.make('a', { seed: true });
  p.make('b', { seed: true });
  p.link('a', 'b');
  const key = join(a, '.git', 'remote-daemon', 'p2p-key');
  chmodSync(key, 0o644);
  const address = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = execFile(process.execPath, [DAEMON, 'p2p', 'address'], { cwd: a }, (_err, _out, stderr) => resolve({ code: child.exitCode, stderr }));
  });
  assert.equal(address.code, 1);
  assert.match(address.stderr, /p2p-key is readable by others \(mode 644\); refusing to use it/);
  const da = startDaemon(a, ['--foreground', '--verbose'], p.env);
  t.after(() => da.stop());
  await da.waitFor(/^WARNING \* p2p endpoint: .*p2p-key is readable by others/, { timeoutMs: 20_000 });
  await da.waitFor(/^WARNING b .*readable by others.*not retrying until RESUME or RELOAD/, { timeoutMs: 20_000 });
  assert.ok(!da.lines.includes('CONNECTED b'));
  chmodSync(key, 0o600);
  const from = da.stderr.length;
  da.send('RELOAD');
  await logged(da, /peer node up/, 20_000, from);
});

test('new discovery settings on RELOAD restart the node (no crash reported) and the link comes back', async (t) => {
  const { a, b, da, db } = await twoPeers(t);
  const first = await nodePid(da);
  const port = await new Promise<number>((resolve) => {
    const s = createSocket('udp4').bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
  git(a, 'config', 'remotedaemon.p2p.port', String(port));
  const from = da.lines.length;
  const log = da.stderr.length;
  da.send('RELOAD');
  const second = await nodePid(da, log);
  assert.notEqual(second, first);
  await da.waitFor('DISCONNECTED b', { from, timeoutMs: 10_000 });
  await da.waitFor('CONNECTED b', { from, timeoutMs: 60_000 });
  assert.ok(!da.lines.slice(from).some((l) => /endpoint failed/.test(l)), da.lines.slice(from).join('\n'));
  const sha = commit(b, 'after the new settings');
  await da.waitFor((l) => l === 'DONESYNCING b 1' && refValue(a, 'refs/remotes/b/main') === sha, { from, timeoutMs: 20_000 });
});
