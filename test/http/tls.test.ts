// https with a private CA made at test time (openssl): git's CA settings (http.sslCAInfo,
// http.sslCAPath, per-URL http.<url>.sslCAInfo, GIT_SSL_CAINFO) are honoured by our own ls-refs
// request, so the remote is polled without `git ls-remote` (seen from the server: POSTs to
// git-upload-pack only, never git's GET of info/refs); a CA that did not sign the server's
// certificate is still refused, by our request and then by git. Hermetic: fixture.ts removes
// GIT_SSL_CAINFO and friends from this process's environment; each test hands its own.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { makeCertificates, startGitHttp, type GitHttpServer } from '../support/githttp.js';
import { connect, makeRepos, push, type After, type Repos, type Setup } from './fixture.js';

async function httpsServer(t: After): Promise<{ repos: Repos; server: GitHttpServer }> {
  const repos = makeRepos(t);
  const server = await startGitHttp({ root: repos.served, tls: { dir: repos.root } });
  t.after(() => server.stop());
  assert.match(server.base, /^https:/);
  return { repos, server };
}

/** Lists through our request alone, and sees a push by it. */
async function fastAndWorking(t: After, repos: Repos, server: GitHttpServer, setup: Omit<Setup, 'url'>): Promise<void> {
  const { connection, events, context } = await connect(t, repos, { url: `${server.base}/repo.git`, pollIntervalSeconds: 1, ...setup });
  assert.equal(context.spec.options.fastPath, true, String(context.spec.options.fallbackReasons));
  assert.ok((await connection.listRefs()).has('refs/heads/main'));
  const sha = push(repos);
  await events.until('the push', () => events.reported('refs/heads/main') === sha, 10_000);
  assert.ok(server.requests.length > 0);
  assert.deepEqual(
    server.requests.filter((r) => !(r.method === 'POST' && r.path === '/repo.git/git-upload-pack')),
    [],
    'only our ls-refs POSTs: git ls-remote would GET info/refs first',
  );
  assert.ok(!events.logs.some((l) => /ls-remote/.test(l)), events.logs.join('\n'));
}

/** A second CA, which signed nothing the server has. */
function otherCa(repos: Repos): string {
  const dir = join(repos.root, 'other-ca');
  mkdirSync(dir);
  return makeCertificates(dir).caFile;
}

test('https with http.sslCAInfo: polled by our ls-refs request, pushes seen', async (t) => {
  const { repos, server } = await httpsServer(t);
  await fastAndWorking(t, repos, server, { config: [['http.sslCAInfo', server.caFile!]] });
});

test('https with GIT_SSL_CAINFO (overriding a wrong http.sslCAInfo, as in git): polled by our request', async (t) => {
  const { repos, server } = await httpsServer(t);
  await fastAndWorking(t, repos, server, { config: [['http.sslCAInfo', otherCa(repos)]], env: { ...process.env, GIT_SSL_CAINFO: server.caFile! } });
});

test('https with http.<url>.sslCAInfo for this URL: polled by our request', async (t) => {
  const { repos, server } = await httpsServer(t);
  await fastAndWorking(t, repos, server, { config: [['http.sslCAInfo', otherCa(repos)], [`http.${server.base}/.sslCAInfo`, server.caFile!]] });
});

test('https with http.sslCAPath (a hashed CA directory): polled by our request', async (t) => {
  const { repos, server } = await httpsServer(t);
  const dir = join(repos.root, 'cas');
  mkdirSync(dir);
  const hash = execFileSync('openssl', ['x509', '-hash', '-noout', '-in', server.caFile!], { encoding: 'utf8' }).trim();
  copyFileSync(server.caFile!, join(dir, `${hash}.0`));
  await fastAndWorking(t, repos, server, { config: [['http.sslCAPath', dir]] });
});

test('https with a CA that did not sign the server: refused by our request, then by git', async (t) => {
  const { repos, server } = await httpsServer(t);
  // Also a per-URL entry for another URL, holding the right CA: it must not apply here.
  const setup = { url: `${server.base}/repo.git`, config: [['http.sslCAInfo', otherCa(repos)], ['http.https://elsewhere.example/.sslCAInfo', server.caFile!]] as [string, string][] };
  await assert.rejects(connect(t, repos, setup), /certificate|SSL/i);
  assert.deepEqual(
    server.requests.filter((r) => r.method === 'POST'),
    [],
    'no request got through the TLS handshake',
  );
});

test('https with an unreadable http.sslCAInfo: git ls-remote decides (and refuses, as git does)', async (t) => {
  const { repos, server } = await httpsServer(t);
  await assert.rejects(connect(t, repos, { url: `${server.base}/repo.git`, config: [['http.sslCAInfo', join(repos.root, 'missing.pem')]] }), /CA|certificate|SSL/i);
});

test('https without a trusted CA: neither Node nor git trusts it, and the error says so', async (t) => {
  const repos = makeRepos(t);
  const server = await startGitHttp({ root: repos.served, tls: { dir: repos.root } });
  t.after(() => server.stop());
  await assert.rejects(connect(t, repos, { url: `${server.base}/repo.git` }), /certificate|SSL/i);
});
