// The webhook receiver attacked from outside, as anyone who can reach its port would: raw TCP
// clients against the real daemon (`bin/git-remote-daemon --foreground`) on loopback, its memory
// read from /proc, and the forge's side seen as the requests reaching a real `git http-backend`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { makeRepos, postGitHubPush, push, type After } from './fixture.js';
import { startGitHttp, type GitHttpServer } from '../support/githttp.js';
import { startDaemon, type RunningDaemon } from '../support/daemon.js';
import { git } from '../support/git.js';
import { freePort } from '../support/ports.js';
import { sign } from '../../workers/http/webhook/verify.js';
import { HEADERS_TIMEOUT_MS, MAX_BODY_BYTES, MAX_CONNECTIONS, REQUEST_TIMEOUT_MS } from '../../workers/http/webhook/receiver.js';
import { NUDGE_BURST, NUDGE_REFILL_MS } from '../../workers/http/webhook/nudges.js';

const SECRET = 'attack-test-secret';

interface Hooked {
  d: RunningDaemon;
  server: GitHttpServer;
  url: string;
  port: number;
  repos: ReturnType<typeof makeRepos>;
}

/** A daemon with one http remote, polled only every 600 s, and its webhook receiver listening. */
async function hooked(t: After): Promise<Hooked> {
  const repos = makeRepos(t);
  const server = await startGitHttp({ root: repos.served });
  t.after(() => server.stop());
  const url = `${server.base}/repo.git`;
  git(repos.local, 'remote', 'set-url', 'origin', url);
  git(repos.local, 'config', 'remote.origin.remotedaemon-pollInterval', '600');
  const port = await freePort();
  git(repos.local, 'config', 'remotedaemon.webhook.listen', `127.0.0.1:${port}`);
  git(repos.local, 'config', 'remotedaemon.webhook.secret', SECRET);
  const d = startDaemon(repos.local);
  t.after(() => d.stop());
  await d.waitFor('CONNECTED origin', { timeoutMs: 20_000 });
  // Listening (its thread may start a little after CONNECTED): a signed push for a repository it
  // does not have is answered 404. Until then the port refuses connections: asked again every 50 ms.
  for (let i = 0; ; i++) {
    const status = await postGitHubPush(port, 'https://elsewhere.example/x.git', SECRET, `probe-${i}`).catch(() => 0);
    if (status === 404) break;
    if (i > 200) throw new Error(`the receiver never answered (last status ${status})`);
    await within(new Promise<never>(() => undefined), 50, undefined);
  }
  return { d, server, url, port, repos };
}

function rssMb(pid: number): number {
  return Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

/** A raw TCP client; `closed` resolves with the ms from connect to the server's hang-up. */
interface Raw {
  socket: net.Socket;
  closed: Promise<number>;
  received(): string;
}

function raw(port: number): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('error', () => undefined); // resets and broken pipes are what an attacker gets
    socket.once('connect', () => {
      const opened = performance.now();
      const closed = new Promise<number>((done) => socket.once('close', () => done(performance.now() - opened)));
      resolve({ socket, closed, received: () => text });
    });
    socket.once('error', reject);
  });
}

/** Resolves with `promise`'s value, or with `fallback` once `ms` have passed. */
function within<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<T>((resolve) => (timer = setTimeout(() => resolve(fallback), ms)))]).finally(() => clearTimeout(timer));
}

/** Headers of a GitHub push delivery whose signature is well formed but wrong (an attacker has no secret). */
function forgedHead(contentLength: number): string {
  return (
    'POST /hook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: forged\r\n' +
    `X-Hub-Signature-256: sha256=${'0'.repeat(64)}\r\nContent-Length: ${contentLength}\r\n\r\n`
  );
}

test('webhook attack: 200 stalled clients declaring the largest body allowed leave the daemon within +30 MB RSS, capped in number, cut at the deadline; the memory comes back', async (t) => {
  const { d, port } = await hooked(t);
  const pid = d.child.pid!;
  const before = rssMb(pid);
  // The largest body the receiver reads (larger ones are refused from their headers: 413), all but
  // its last byte sent, then silence.
  const declared = MAX_BODY_BYTES;
  const body = Buffer.alloc(declared - 1, 'a');
  const clients = await Promise.all(
    Array.from({ length: 200 }, async () => {
      const client = await raw(port);
      client.socket.write(forgedHead(declared));
      client.socket.write(body);
      return client;
    }),
  );
  t.after(() => clients.forEach((c) => c.socket.destroy()));
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 50);
  const guard = REQUEST_TIMEOUT_MS + 15_000;
  const lifetimes = await Promise.all(clients.map((c) => within(c.closed, guard, Infinity)));
  clearInterval(sampler);
  peak = Math.max(peak, rssMb(pid));
  // The memory given back: the lowest of a few readings over the next two seconds.
  let after = Infinity;
  for (let i = 0; i < 10; i++) {
    after = Math.min(after, rssMb(pid));
    await within(new Promise<never>(() => undefined), 200, undefined);
  }
  const dropped = lifetimes.filter((ms) => ms < 2_000).length;
  const held = lifetimes.filter((ms) => ms >= 2_000);
  const slowest = Math.max(...held, 0);
  t.diagnostic(
    `RSS before ${before.toFixed(1)} MB, peak ${peak.toFixed(1)} MB (+${(peak - before).toFixed(1)}), after ${after.toFixed(1)} MB (+${(after - before).toFixed(1)}); ` +
      `${dropped} connections refused at once, ${held.length} held, the last cut after ${(slowest / 1000).toFixed(1)} s (deadline ${REQUEST_TIMEOUT_MS / 1000} s)`,
  );
  assert.ok(peak - before <= 30, `peak RSS rose by ${(peak - before).toFixed(1)} MB`);
  assert.ok(after - before <= 10, `RSS after the attack is ${(after - before).toFixed(1)} MB over the start`);
  assert.ok(held.length <= MAX_CONNECTIONS, `${held.length} connections held at once, cap ${MAX_CONNECTIONS}`);
  assert.ok(slowest <= REQUEST_TIMEOUT_MS + 1_500, `a stalled request lived ${(slowest / 1000).toFixed(1)} s`);
  // And the receiver still works once the attackers are gone.
  assert.equal(await postGitHubPush(port, 'https://elsewhere.example/x.git', SECRET, 'after-the-storm'), 404);
});

test('webhook attack: silent, slow-header and slow-body clients are cut at the configured deadlines, not 30-40 s later', async (t) => {
  const { port } = await hooked(t);
  const drip = (client: Raw, text: string) => {
    let i = 0;
    const timer = setInterval(() => (client.socket.destroyed || i >= text.length ? clearInterval(timer) : client.socket.write(text[i++])), 300);
    client.closed.then(() => clearInterval(timer));
    t.after(() => clearInterval(timer));
  };
  const silent = await raw(port);
  const slowHeaders = await raw(port);
  drip(slowHeaders, forgedHead(10).repeat(20));
  const slowBody = await raw(port);
  slowBody.socket.write(forgedHead(1000));
  drip(slowBody, 'x'.repeat(1000));
  for (const c of [silent, slowHeaders, slowBody]) t.after(() => c.socket.destroy());
  const guard = REQUEST_TIMEOUT_MS + 40_000;
  const [a, b, c] = await Promise.all([silent, slowHeaders, slowBody].map((client) => within(client.closed, guard, Infinity)));
  t.diagnostic(
    `headers deadline ${HEADERS_TIMEOUT_MS / 1000} s: silent cut after ${(a / 1000).toFixed(2)} s, slow headers after ${(b / 1000).toFixed(2)} s; ` +
      `request deadline ${REQUEST_TIMEOUT_MS / 1000} s: slow body cut after ${(c / 1000).toFixed(2)} s`,
  );
  for (const [what, measured, deadline] of [
    ['silent', a, HEADERS_TIMEOUT_MS],
    ['slow headers', b, HEADERS_TIMEOUT_MS],
    ['slow body', c, REQUEST_TIMEOUT_MS],
  ] as const) {
    assert.ok(measured >= deadline - 300 && measured <= deadline + 1_500, `${what}: cut after ${measured} ms, deadline ${deadline} ms`);
  }
  assert.match(slowBody.received(), /^HTTP\/1\.1 408/);
});

/** Requests that listed refs (protocol v2 ls-refs and fetches alike go to git-upload-pack). */
const listings = (server: GitHttpServer) => server.requests.filter((r) => r.path.endsWith('/git-upload-pack')).length;

function postSigned(port: number, body: string, headers: Record<string, string>): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('utf8')));
    socket.once('error', reject);
    socket.once('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text: text.split('\r\n\r\n')[1] ?? '' }));
    const lines = Object.entries({ 'content-type': 'application/json', ...headers, 'content-length': String(Buffer.byteLength(body)), connection: 'close' }).map(
      ([k, v]) => `${k}: ${v}\r\n`,
    );
    socket.end(`POST / HTTP/1.1\r\nhost: 127.0.0.1\r\n${lines.join('')}\r\n${body}`);
  });
}

test('webhook attack: replays of one signed body with new, no or relabelled delivery ids are acted on once', async (t) => {
  const { server, url, port } = await hooked(t);
  await server.until('the first listing', () => listings(server) >= 1);
  const base = listings(server);
  const body = JSON.stringify({ ref: 'refs/heads/main', after: 'a'.repeat(40), repository: { clone_url: url } });
  const signature = sign(body, SECRET);
  const first = await postSigned(port, body, { 'x-github-event': 'push', 'x-github-delivery': 'original', 'x-hub-signature-256': `sha256=${signature}` });
  assert.equal(first.status, 202, first.text);
  await server.until('the nudged listing', () => listings(server) >= base + 1);
  const replays: Record<string, string>[] = [];
  for (let i = 0; i < 20; i++) replays.push({ 'x-github-event': 'push', 'x-github-delivery': `new-id-${i}`, 'x-hub-signature-256': `sha256=${signature}` });
  for (let i = 0; i < 5; i++) replays.push({ 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${signature}` });
  for (let i = 0; i < 5; i++) replays.push({ 'x-gitea-event': 'push', 'x-gitea-delivery': `gitea-${i}`, 'x-gitea-signature': signature });
  for (let i = 0; i < 5; i++) replays.push({ 'x-forgejo-event': 'push', 'x-forgejo-signature': signature });
  // One after another: sent all at once, more than the receiver's 16 connections would be refused
  // at the door (that bound has its own test), and this test is about replays.
  const answers: Awaited<ReturnType<typeof postSigned>>[] = [];
  for (const headers of replays) answers.push(await postSigned(port, body, headers));
  assert.deepEqual(
    answers.map((a) => a.status),
    replays.map(() => 200),
    answers.map((a) => a.text).join(''),
  );
  assert.ok(answers.every((a) => /already delivered/.test(a.text)));
  // A new body still goes through, and arrives after anything the replays could have caused.
  const fresh = JSON.stringify({ ref: 'refs/heads/main', after: 'b'.repeat(40), repository: { clone_url: url } });
  const next = await postSigned(port, fresh, { 'x-github-event': 'push', 'x-github-delivery': 'fresh', 'x-hub-signature-256': `sha256=${sign(fresh, SECRET)}` });
  assert.equal(next.status, 202, next.text);
  await server.until('the second nudged listing', () => listings(server) >= base + 2);
  t.diagnostic(`${replays.length} replays, ${listings(server) - base} listings in all (the original and the fresh body)`);
  assert.equal(listings(server), base + 2);
});

test('webhook attack: a flood of distinct signed pushes for one remote is rate-limited, and the last push is still fetched', async (t) => {
  const { server, url, port, d, repos } = await hooked(t);
  await server.until('the first listing', () => listings(server) >= 1);
  const base = listings(server);
  // One signed push every 50 ms for 3 s: each far enough from the last that the transport does not
  // merge them into a listing already under way. The last comes after a real push.
  const count = 60;
  const started = performance.now();
  let sha = '';
  for (let i = 0; i < count; i++) {
    const paced = within(new Promise<never>(() => undefined), 50, undefined);
    if (i === count - 1) sha = push(repos);
    const body = JSON.stringify({ ref: 'refs/heads/main', n: i, repository: { clone_url: url } });
    const answer = await postSigned(port, body, { 'x-github-event': 'push', 'x-github-delivery': `flood-${i}`, 'x-hub-signature-256': `sha256=${sign(body, SECRET)}` });
    assert.equal(answer.status, 202, answer.text);
    await paced;
  }
  const floodMs = performance.now() - started;
  // The push is fetched: the flood was acted on, not dropped.
  await d.waitFor('DONESYNCING origin 1', { timeoutMs: 10_000 });
  assert.ok(sha !== '');
  // Then an observation window: what a nudge held back for later has had time to run.
  await within(new Promise<never>(() => undefined), 2 * NUDGE_REFILL_MS + 500, undefined);
  const requests = listings(server) - base;
  // A fetch adds its own listing and pack request to the nudged listings.
  const allowed = NUDGE_BURST + Math.ceil(floodMs / NUDGE_REFILL_MS) + 1 + 2;
  t.diagnostic(`${count} signed pushes over ${floodMs.toFixed(0)} ms: ${requests} upload-pack requests reached the forge (allowed ${allowed})`);
  assert.ok(requests <= allowed, `${requests} requests reached the forge, allowed ${allowed}`);
});
