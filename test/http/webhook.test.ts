// The webhook receiver as the daemon runs it (its endpoint task, over MessagePorts), fed with
// deliveries signed the way each forge signs them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ToEndpoint } from '../../shared/plugin.js';
import type { FromWebhook } from '../../workers/http/messages.js';
import { Inbox, listeningPort, startWebhookEndpoint, type WebhookEndpoint } from './webhook/harness.js';
import { tempDir } from '../support/git.js';

type After = { after(fn: () => unknown): void };
const SECRET = 'It is a secret to everybody';
const REPO = 'https://git.example.org/owner/repo';

interface Running extends Omit<WebhookEndpoint, 'attach'> {
  port: number;
  attach(remote: string, url: string): Inbox<FromWebhook>;
}

async function run(t: After, settings: Record<string, unknown> = { listen: { host: '127.0.0.1', port: 0 }, secret: SECRET }): Promise<Running> {
  const hook = startWebhookEndpoint(t, settings);
  const port = settings.listen ? await listeningPort(hook.daemon) : 0;
  return { ...hook, port, attach: (remote, url) => hook.attach(remote, url).inbox };
}

function deliver(port: number, headers: Record<string, string>, body: string | Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/hook', headers: { 'Content-Type': 'application/json', ...headers } }, (response) => {
      let text = '';
      response.setEncoding('utf8').on('data', (d: string) => (text += d));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
    });
    request.on('error', reject);
    request.end(body);
  });
}

const hmac = (body: string, secret = SECRET) => createHmac('sha256', secret).update(body).digest('hex');

function github(body: string, delivery: string, secret = SECRET): Record<string, string> {
  return { 'X-GitHub-Event': 'push', 'X-GitHub-Delivery': delivery, 'X-Hub-Signature-256': `sha256=${hmac(body, secret)}` };
}

const githubPush = (url = REPO) =>
  JSON.stringify({ ref: 'refs/heads/main', after: 'f'.repeat(40), repository: { clone_url: `${url}.git`, ssh_url: 'git@git.example.org:owner/repo.git', html_url: url } });

const nudges = (inbox: Inbox<FromWebhook>) => inbox.items.filter((m) => m.type === 'nudge').length;

test('attached remotes hear whether the receiver listens; a signed GitHub push nudges exactly the matching remote', async (t) => {
  const hook = await run(t);
  const origin = hook.attach('origin', 'https://user:pw@GIT.example.org/owner/repo.git/');
  const other = hook.attach('other', 'https://git.example.org/owner/other.git');
  await origin.until('status', (items) => items.some((m) => m.type === 'status' && m.listening));
  const body = githubPush();
  const answer = await deliver(hook.port, github(body, 'd-1'), body);
  assert.equal(answer.status, 202, answer.text);
  await origin.until('a nudge', (items) => items.some((m) => m.type === 'nudge' && m.forge === 'github'));
  await other.until('its status', (items) => items.some((m) => m.type === 'status'));
  assert.equal(nudges(other), 0);
});

test('a bad or missing signature is 401 and nudges nobody', async (t) => {
  const hook = await run(t);
  const origin = hook.attach('origin', REPO);
  await origin.until('status', (items) => items.length > 0);
  const body = githubPush();
  assert.equal((await deliver(hook.port, github(body, 'd-2', 'not the secret'), body)).status, 401);
  assert.equal((await deliver(hook.port, { 'X-GitHub-Event': 'push', 'X-GitHub-Delivery': 'd-3' }, body)).status, 401);
  assert.equal((await deliver(hook.port, {}, body)).status, 401);
  // Signed for another body: the signature covers every byte.
  assert.equal((await deliver(hook.port, github(body, 'd-4'), body.replace('main', 'evil'))).status, 401);
  assert.equal(nudges(origin), 0);
});

test('a replayed body is acknowledged and ignored, whatever its delivery id', async (t) => {
  const hook = await run(t);
  const origin = hook.attach('origin', REPO);
  const body = githubPush();
  assert.equal((await deliver(hook.port, github(body, 'same-id'), body)).status, 202);
  await origin.until('one nudge', (items) => items.some((m) => m.type === 'nudge'));
  const replay = await deliver(hook.port, github(body, 'same-id'), body);
  assert.equal(replay.status, 200);
  assert.match(replay.text, /already delivered/);
  // No forge signs its id: a new one, none, or the same signature relabelled as Gitea is a replay too.
  assert.equal((await deliver(hook.port, github(body, 'new-id'), body)).status, 200);
  const { 'X-GitHub-Delivery': _, ...noId } = github(body, '');
  assert.equal((await deliver(hook.port, noId, body)).status, 200);
  assert.equal((await deliver(hook.port, { 'X-Gitea-Event': 'push', 'X-Gitea-Signature': hmac(body) }, body)).status, 200);
  // A later, different body still goes through: so the replay was not merely slow.
  const next = githubPush().replace('main', 'next');
  assert.equal((await deliver(hook.port, github(next, 'next-id'), next)).status, 202);
  await origin.until('the second nudge', (items) => items.filter((m) => m.type === 'nudge').length === 2);
});

test('a body over the bound is 413, answered without reading it', async (t) => {
  const hook = await run(t);
  hook.attach('origin', REPO);
  // Declared too large: refused from the headers alone, while we have sent almost nothing.
  const declared = await new Promise<number>((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port: hook.port, method: 'POST', headers: { 'Content-Length': String(100 * 1024 * 1024) } }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', reject);
    request.write('{');
  });
  assert.equal(declared, 413);
  // Chunked, no length: refused once the bound is passed.
  const chunked = await new Promise<number>((resolve, reject) => {
    const forged = { 'X-GitHub-Event': 'push', 'X-Hub-Signature-256': `sha256=${'0'.repeat(64)}` };
    const request = http.request({ host: '127.0.0.1', port: hook.port, method: 'POST', headers: forged }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' || (err as NodeJS.ErrnoException).code === 'EPIPE' ? undefined : reject(err)));
    const chunk = Buffer.alloc(256 * 1024, 'a');
    const pump = () => {
      for (let i = 0; i < 40; i++) if (!request.write(chunk)) return void request.once('drain', pump);
    };
    pump();
  });
  assert.equal(chunked, 413);
});

test('a push for a repository no remote has is 404', async (t) => {
  const hook = await run(t);
  hook.attach('origin', REPO);
  const body = githubPush('https://git.example.org/someone/else');
  assert.equal((await deliver(hook.port, github(body, 'd-404'), body)).status, 404);
});

test('GitLab (token), Gitea and Forgejo (signatures) pushes nudge', async (t) => {
  const hook = await run(t);
  const origin = hook.attach('origin', 'https://git.example.org/owner/repo.git');
  const gitlabBody = JSON.stringify({ object_kind: 'push', project: { git_http_url: 'https://git.example.org/owner/repo.git', git_ssh_url: 'git@git.example.org:owner/repo.git' } });
  assert.equal((await deliver(hook.port, { 'X-Gitlab-Event': 'Push Hook', 'X-Gitlab-Token': 'wrong' }, gitlabBody)).status, 401);
  assert.equal((await deliver(hook.port, { 'X-Gitlab-Event': 'Push Hook', 'X-Gitlab-Token': SECRET, 'X-Gitlab-Event-UUID': 'u-1' }, gitlabBody)).status, 202);
  const giteaBody = JSON.stringify({ ref: 'refs/heads/main', repository: { clone_url: 'https://git.example.org/owner/repo.git', html_url: 'https://git.example.org/owner/repo' } });
  assert.equal(
    (await deliver(hook.port, { 'X-Gitea-Event': 'push', 'X-Gitea-Delivery': 'g-1', 'X-Gitea-Signature': hmac(giteaBody), 'X-GitHub-Event': 'push' }, giteaBody)).status,
    202,
  );
  const forgejoBody = giteaBody.replace('main', 'dev');
  assert.equal(
    (
      await deliver(
        hook.port,
        { 'X-Forgejo-Event': 'push', 'X-Forgejo-Delivery': 'f-1', 'X-Forgejo-Signature': hmac(forgejoBody), 'X-Gitea-Event': 'push', 'X-Gitea-Signature': hmac(forgejoBody) },
        forgejoBody,
      )
    ).status,
    202,
  );
  await origin.until('three nudges', (items) => items.filter((m) => m.type === 'nudge').length === 3);
  assert.deepEqual(
    origin.items.filter((m) => m.type === 'nudge').map((m) => m.type === 'nudge' && m.forge),
    ['gitlab', 'gitea', 'forgejo'],
  );
});

test('pings and other events are acknowledged, not acted on; a detached remote hears nothing more', async (t) => {
  const hook = await run(t);
  const origin = hook.attach('origin', REPO);
  const ping = JSON.stringify({ zen: 'Keep it logically awesome.', repository: { clone_url: `${REPO}.git` } });
  assert.equal((await deliver(hook.port, { ...github(ping, 'p-1'), 'X-GitHub-Event': 'ping' }, ping)).status, 200);
  const issue = JSON.stringify({ action: 'opened', repository: { clone_url: `${REPO}.git` } });
  assert.equal((await deliver(hook.port, { ...github(issue, 'i-1'), 'X-GitHub-Event': 'issues' }, issue)).status, 202);
  hook.control.postMessage({ type: 'detach', remote: 'origin' } satisfies ToEndpoint);
  const body = githubPush();
  // The detach crosses a MessagePort and the delivery a socket: no order between them, so ask again
  // until the endpoint has handled it (a few tries at most).
  let status = 0;
  for (let i = 0; i < 50 && status !== 404; i++) status = (await deliver(hook.port, github(body, `after-detach-${i}`), body)).status;
  assert.equal(status, 404);
  assert.equal(nudges(origin), 0);
});

test('a secret file others can read keeps the receiver off, and says why', async (t) => {
  const dir = tempDir();
  t.after(() => dir.cleanup());
  const file = join(dir.path, 'secret');
  writeFileSync(file, SECRET);
  chmodSync(file, 0o644);
  const hook = await run(t, { listen: { host: '127.0.0.1', port: 0 }, secretFile: file });
  const origin = hook.attach('origin', REPO);
  await hook.daemon.until('a condition', (items) => items.some((m) => m.type === 'condition' && m.text !== null));
  const condition = hook.daemon.items.find((m) => m.type === 'condition')!;
  assert.match(condition.type === 'condition' ? String(condition.text) : '', /readable by others.*chmod 600/);
  await origin.until('status', (items) => items.some((m) => m.type === 'status'));
  assert.deepEqual(origin.items[0], { type: 'status', listening: false });

  // Fixed and re-read on a settings message: now it listens.
  chmodSync(file, 0o600);
  hook.control.postMessage({ type: 'settings', settings: { listen: { host: '127.0.0.1', port: 0 }, secretFile: file } } satisfies ToEndpoint);
  await origin.until('listening', (items) => items.some((m) => m.type === 'status' && m.listening));
  await hook.daemon.until('the condition cleared', (items) => items.some((m) => m.type === 'condition' && m.text === null));
});

test('stop closes the server and resolves the task', async (t) => {
  const hook = await run(t);
  hook.control.postMessage({ type: 'stop' } satisfies ToEndpoint);
  await hook.stopped;
  await assert.rejects(deliver(hook.port, {}, '{}'), /ECONNREFUSED/);
});
