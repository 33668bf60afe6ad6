// Credentials over smart HTTP with basic auth and git's `store` helper: found and approved, sent up
// front afterwards (an idle poll stays one request), missing or revoked -> NeedsUser at once, with a
// message that names the helper and the URL and holds no secret.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startGitHttp } from '../support/githttp.js';
import { NeedsUser } from '../../shared/transport.js';
import { connect, makeRepos, push, type After } from './fixture.js';

const USER = 'alice';
const PASSWORD = 's3cret-Pa55';

async function setup(t: After, stored: string | undefined) {
  const repos = makeRepos(t);
  const server = await startGitHttp({ root: repos.served, auth: { user: USER, password: PASSWORD } });
  t.after(() => server.stop());
  const store = join(repos.root, 'credentials');
  const host = `127.0.0.1:${server.port}`;
  writeFileSync(store, stored !== undefined ? `http://${USER}:${stored}@${host}\n` : '', { mode: 0o600 });
  const url = `${server.base}/repo.git`;
  return { repos, server, store, url, config: [['credential.helper', `store --file ${store}`]] as [string, string][] };
}

function assertNoSecret(text: string): void {
  assert.ok(!text.includes(PASSWORD), `a secret leaked: ${text}`);
  assert.ok(!text.includes('wrong-password'), `a secret leaked: ${text}`);
}

test('stored credentials: 401, fill, retry, approve; later polls send them up front', async (t) => {
  const { repos, server, url, config } = await setup(t, PASSWORD);
  const { events } = await connect(t, repos, { url, config, pollIntervalSeconds: 1 });
  assert.deepEqual(server.requests.map((r) => r.authorized), [false, true]);
  const sha = push(repos);
  await events.until('the push', () => events.reported('refs/heads/main') === sha, 5_000);
  const polls = server.requests.slice(2);
  assert.ok(polls.length >= 1 && polls.every((r) => r.authorized), 'every later poll is one authorized request');
  for (const line of events.logs) assertNoSecret(line);
});

test('no credentials anywhere: NeedsUser at once, naming the helper and the URL, no retry loop', async (t) => {
  const { repos, server, url, config } = await setup(t, undefined);
  const started = Date.now();
  const error = await connect(t, repos, { url, config }).then(
    () => assert.fail('connected without credentials'),
    (err: Error) => err,
  );
  assert.ok(error instanceof NeedsUser, String(error));
  assert.match(error.message, /needs credentials/);
  assert.match(error.message, /credential\.helper: store/);
  assert.ok(error.message.includes(url), error.message);
  assert.ok(!error.message.includes('--file'), 'helper arguments are not shown');
  assert.ok(Date.now() - started < 10_000, 'no hang');
  assert.equal(server.requests.length, 1, 'one request, no retry loop');
});

test('wrong stored credentials: rejected (erased from the store) and NeedsUser', async (t) => {
  const { repos, server, store, url, config } = await setup(t, 'wrong-password');
  const error = await connect(t, repos, { url, config }).then(
    () => assert.fail('connected with wrong credentials'),
    (err: Error) => err,
  );
  assert.ok(error instanceof NeedsUser, String(error));
  assert.match(error.message, /refused the credentials/);
  assertNoSecret(error.message);
  assert.equal(readFileSync(store, 'utf8').trim(), '', 'git credential reject erased them');
  assert.equal(server.requests.length, 2);
});

test('credentials revoked mid-run: the poll rejects them and the connection ends with NeedsUser', async (t) => {
  const { repos, server, url, config } = await setup(t, PASSWORD);
  const { connection, events } = await connect(t, repos, { url, config, pollIntervalSeconds: 1 });
  server.auth = { user: USER, password: 'rotated' };
  const error = await connection.done.then(
    () => assert.fail('done resolved'),
    (err: Error) => err,
  );
  assert.ok(error instanceof NeedsUser, String(error));
  assertNoSecret(error.message);
  for (const line of events.logs) assertNoSecret(line);
});

test('credentials in the URL are used as they are and never shown', async (t) => {
  const repos = makeRepos(t);
  const server = await startGitHttp({ root: repos.served, auth: { user: USER, password: PASSWORD } });
  t.after(() => server.stop());
  const { connection, events } = await connect(t, repos, { url: `http://${USER}:${PASSWORD}@127.0.0.1:${server.port}/repo.git` });
  assert.ok((await connection.listRefs()).has('refs/heads/main'));
  for (const line of [...events.logs, ...events.watchings]) assertNoSecret(line);
});

test('an askpass program is never run: GIT_TERMINAL_PROMPT=0 alone would still run core.askPass', async (t) => {
  const { repos, url, config } = await setup(t, undefined);
  const marker = join(repos.root, 'asked');
  const askpass = join(repos.root, 'askpass.sh');
  writeFileSync(askpass, `#!/bin/sh\ntouch ${marker}\necho ${PASSWORD}\n`, { mode: 0o755 });
  const error = await connect(t, repos, { url, config: [...config, ['core.askPass', askpass]] }).then(
    () => assert.fail('connected through a prompt'),
    (err: Error) => err,
  );
  assert.ok(error instanceof NeedsUser, String(error));
  assert.equal(existsSync(marker), false, 'the askpass program ran');
});
