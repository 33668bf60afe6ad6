// What a hostile smart-HTTP server can make a fetch cost, against the real daemon: an answer to the
// fetch that is nothing but sideband progress (~64 KiB lines, 200 MB of them), and one that never
// comes after the ref advertisement. The daemon's memory stays bounded (its peak RSS, VmHWM, is
// measured: the remote's worker is a thread of this process), and the silent fetch is ended at the
// configured stall time and tried again with backoff.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { makeRepos, push } from './fixture.js';
import { startGitHttp } from '../support/githttp.js';
import { startDaemon } from '../support/daemon.js';
import { git } from '../support/git.js';

type T = { after(fn: () => unknown): void };

async function hostile(t: T) {
  const repos = makeRepos(t);
  const server = await startGitHttp({ root: repos.served });
  t.after(() => server.stop());
  git(repos.local, 'remote', 'set-url', 'origin', `${server.base}/repo.git`);
  git(repos.local, 'config', 'remote.origin.remotedaemon-pollInterval', '1');
  return { repos, server };
}

/** Peak and current resident memory of a process, in MiB (from /proc: VmHWM, VmRSS). */
function memory(pid: number): { peak: number; now: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)![1]) / 1024;
  return { peak: Math.round(kib('VmHWM')), now: Math.round(kib('VmRSS')) };
}

test('http: a fetch answered with 200 MB of sideband progress costs the daemon a bounded amount of memory', async (t) => {
  const { repos, server } = await hostile(t);
  const d = startDaemon(repos.local);
  t.after(() => d.stop());
  await d.waitFor('CONNECTED origin', { timeoutMs: 20_000 });
  const before = memory(d.child.pid!);
  server.mode = { kind: 'fetch-progress', packets: 3200 }; // 3200 x 65 KB = 208 MB
  push(repos);
  await d.waitFor('DONESYNCING origin 0', { timeoutMs: 120_000 });
  const after = memory(d.child.pid!);
  t.diagnostic(`daemon RSS ${before.now} MB before; peak ${after.peak} MB over the fetch (server sent ${Math.round(server.sent / 2 ** 20)} MiB)`);
  assert.ok(server.sent > 190 * 2 ** 20, `the whole stream was sent and read: ${d.stderr.filter((l) => /git fetch/.test(l)).join('\n').slice(0, 2000)}`);
  assert.ok(after.peak - before.now < 60, `the daemon grew by ${after.peak - before.now} MB`);
  const warning = d.lines.find((l) => /^WARNING origin git fetch failed: /.test(l));
  assert.ok(warning && warning.length < 400, `one short WARNING: ${warning?.slice(0, 500)}`);
  // Still a working daemon: the server behaves again, the retry fetches.
  server.mode = { kind: 'normal' };
  await d.waitFor('DONESYNCING origin 1', { timeoutMs: 60_000 });
});

test('http: a fetch that gets nothing after the advertisement is ended at remotedaemon.fetchStallTimeout and tried again with backoff', async (t) => {
  const { repos, server } = await hostile(t);
  git(repos.local, 'config', 'remotedaemon.fetchStallTimeout', '2');
  const d = startDaemon(repos.local);
  t.after(() => d.stop());
  await d.waitFor('CONNECTED origin', { timeoutMs: 20_000 });
  server.mode = { kind: 'fetch-stall' };
  push(repos);
  await d.waitFor('SYNCING origin', { timeoutMs: 20_000 });
  const started = Date.now();
  await d.waitFor('DONESYNCING origin 0', { timeoutMs: 30_000 });
  const ended = Date.now() - started;
  const warning = await d.waitFor(/^WARNING origin git fetch failed: /);
  assert.equal(warning, 'WARNING origin git fetch failed: error: the remote sent nothing for 2 s; the fetch was ended (remotedaemon.fetchStallTimeout)');
  assert.ok(ended >= 2000 && ended < 8000, `ended ${ended} ms after SYNCING`);
  await server.until('the server saw the client hang up', () => server.hangups >= 1);
  // Tried again, later: the second attempt stalls too, and is ended the same way.
  await d.waitForCount('DONESYNCING origin 0', 2, 30_000);
  assert.ok(d.stderr.some((l) => /trying the fetch again in \d/.test(l)), d.stderr.join('\n'));
  assert.ok(server.fetches >= 2);
  server.mode = { kind: 'normal' };
  await d.waitFor('DONESYNCING origin 1', { timeoutMs: 60_000 });
  assert.equal(d.lines.filter((l) => l === 'DISCONNECTED origin').length, 0, 'the remote stayed connected throughout');
});
