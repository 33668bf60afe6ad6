// One remote's ref listing (workers/http/lister.ts), against a loopback node:http server in the test
// process: our own ls-refs POST, what each HTTP answer means (throttled, refused, needs credentials,
// redirected, not git), and the fallback to `git ls-remote`, which lists a real local repository
// the remote's config points at. Credentials come from a credential helper configured in that
// repository only.

import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { RefLister, Throttled } from '../../workers/http/lister.js';
import { FLUSH, pktLine } from '../../workers/wire/pktline.js';
import { parseRemoteUrl } from '../../workers/http/urls.js';
import type { HttpOptions } from '../../workers/http/options.js';
import { NeedsUser } from '../../shared/transport.js';
import { git, makeFixture, refValue, type Fixture } from '../support/git.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const GIT_RESULT = 'application/x-git-upload-pack-result';

interface Seen {
  url: string;
  method: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

type Answer = (res: http.ServerResponse, nth: number, seen: Seen) => void;

interface Setup {
  fx: Fixture;
  seen: Seen[];
  logs: string[];
  lister: RefLister;
  list(): Promise<Map<string, string>>;
}

// One set of repositories for the file (git's start-up is most of a test's time); no test changes
// them, and the credential helper a test configures goes with it.
let shared: Fixture | undefined;
after(() => shared?.cleanup());

async function setup(t: TestContext, answer: Answer, options: Partial<HttpOptions> = {}): Promise<Setup> {
  const fx = (shared ??= makeFixture());
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const one = { url: req.url ?? '', method: req.method ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      seen.push(one);
      answer(res, seen.length, one);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = parseRemoteUrl(`http://127.0.0.1:${(server.address() as AddressInfo).port}/repo.git`)!;
  const logs: string[] = [];
  const lister = new RefLister({
    url,
    remote: 'origin', // whose URL in fx.local is the local bare repository: what git ls-remote lists
    cwd: fx.local,
    prefixes: ['refs/heads/'],
    options: { fastPath: true, fallbackReasons: [], userAgent: 'git/2.99 (test)', credentialHelpers: [], limits: { timeoutMs: 10_000 }, ...options },
    log: (text) => logs.push(text),
  });
  t.after(() => {
    lister.close();
    server.closeAllConnections();
    server.close();
  });
  return { fx, seen, logs, lister, list: () => lister.list(new AbortController().signal) };
}

function refs(res: http.ServerResponse, lines: [string, string][]): void {
  res.writeHead(200, { 'Content-Type': GIT_RESULT });
  res.end(Buffer.concat([...lines.map(([oid, name]) => pktLine(`${oid} ${name}\n`)), FLUSH]));
}

function status(code: number, headers: http.OutgoingHttpHeaders = {}, body = ''): Answer {
  return (res) => {
    res.writeHead(code, { 'Content-Type': 'text/plain', ...headers });
    res.end(body);
  };
}

/** A credential helper in the fixture's repository that gives `user`/`password` and logs each call. */
function helper(t: TestContext, fx: Fixture, user: string, password: string): () => string[] {
  const log = join(fx.root, 'helper.log');
  writeFileSync(log, '');
  const script = join(fx.root, 'helper.sh');
  writeFileSync(script, `#!/bin/sh\necho "$1" >> '${log}'\nif [ "$1" = get ]; then echo username=${user}; echo password=${password}; fi\n`, { mode: 0o755 });
  git(fx.local, 'config', 'credential.helper', script);
  t.after(() => git(fx.local, 'config', '--unset', 'credential.helper'));
  return () => readFileSync(log, 'utf8').split('\n').filter((l) => l !== '');
}

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

test('lists with its own ls-refs POST to <url>/git-upload-pack, keeping only refs under the prefixes', async (t) => {
  const s = await setup(t, (res) => refs(res, [[A, 'refs/heads/main'], [B, 'refs/pull/1/head']]));
  assert.equal(s.lister.method, 'ls-refs');
  assert.deepEqual([...(await s.list())], [['refs/heads/main', A]], 'a ref outside the prefixes the server sent anyway is dropped');
  const [request] = s.seen;
  assert.equal(request.method, 'POST');
  assert.equal(request.url, '/repo.git/git-upload-pack');
  assert.equal(request.headers['git-protocol'], 'version=2');
  assert.equal(request.headers['user-agent'], 'git/2.99 (test)');
  assert.equal(request.headers['content-type'], 'application/x-git-upload-pack-request');
  assert.match(request.body, /command=ls-refs\n/);
  assert.match(request.body, /ref-prefix refs\/heads\/\n/);
  assert.equal(request.headers.authorization, undefined, 'no credentials before the server asks');
});

test('429, or 503 with Retry-After, is Throttled with the wait the server asked for; a plain 503 is an error', async (t) => {
  const answers = [status(429, { 'Retry-After': '30' }), status(503, { 'Retry-After': '5' }), status(503, {}, 'down for maintenance\n'), status(429)];
  const s = await setup(t, (res, nth, seen) => answers[nth - 1](res, nth, seen));
  await assert.rejects(s.list(), (err) => err instanceof Throttled && err.waitMs === 30_000 && /slow down \(HTTP 429\)/.test(err.message));
  await assert.rejects(s.list(), (err) => err instanceof Throttled && err.waitMs === 5_000);
  await assert.rejects(s.list(), (err: Error) => {
    assert.ok(!(err instanceof Throttled));
    assert.match(err.message, /answered HTTP 503: down for maintenance$/);
    return true;
  });
  await assert.rejects(s.list(), (err) => err instanceof Throttled && err.waitMs === undefined, 'a 429 without Retry-After: the caller chooses the wait');
  assert.equal(s.lister.method, 'ls-refs', 'the server is right there: no reason for git to take over');
});

test('403 needs the user, with the server\'s reason when it is short text and never a web page', async (t) => {
  const answers = [status(403, {}, '\nyour token has expired\n'), status(403, { 'Content-Type': 'text/html' }, '<html><body>Forbidden</body></html>')];
  const s = await setup(t, (res, nth, seen) => answers[nth - 1](res, nth, seen));
  await assert.rejects(s.list(), (err: Error) => err instanceof NeedsUser && /refused access \(HTTP 403\): your token has expired\. Store credentials/.test(err.message));
  await assert.rejects(s.list(), (err: Error) => err instanceof NeedsUser && /refused access \(HTTP 403\)\. Store credentials/.test(err.message));
});

test('a 500 is the remote\'s failure: an error naming the status, and the fast path stays', async (t) => {
  const s = await setup(t, status(500, {}, 'internal error\n'));
  await assert.rejects(s.list(), /^Error: http:\/\/127\.0\.0\.1:\d+\/repo\.git answered HTTP 500: internal error$/);
  assert.equal(s.lister.method, 'ls-refs');
});

for (const [what, answer] of [
  ['a redirect', status(301, { Location: 'http://elsewhere.invalid/repo.git/git-upload-pack' })],
  ['a 200 that is not a git result', status(200, { 'Content-Type': 'text/html' }, '<html>sign in</html>')],
] as const) {
  test(`${what} sends the remote to git ls-remote, which lists what the remote's config points at, from then on`, async (t) => {
    const s = await setup(t, answer);
    const listed = await s.list();
    assert.deepEqual([...listed], [['refs/heads/main', refValue(s.fx.remote, 'refs/heads/main')!]]);
    assert.equal(s.lister.method, 'ls-remote');
    assert.equal(s.logs.length, 1);
    assert.match(s.logs[0], /listing refs with git ls-remote from now on$/);
    await s.list();
    assert.equal(s.seen.length, 1, 'the server is not asked again');
  });
}

test('without the fast path, git ls-remote lists from the start and the log says why', async (t) => {
  const s = await setup(t, (res) => refs(res, [[A, 'refs/heads/main']]), { fastPath: false, fallbackReasons: ['http.proxy is set'] });
  assert.equal(s.lister.method, 'ls-remote');
  assert.deepEqual(s.logs, ['listing refs with git ls-remote: http.proxy is set']);
  assert.deepEqual([...(await s.list())], [['refs/heads/main', refValue(s.fx.remote, 'refs/heads/main')!]]);
  assert.equal(s.seen.length, 0);
});

test('401 with no credentials anywhere needs the user, without asking anyone', async (t) => {
  const s = await setup(t, status(401, { 'WWW-Authenticate': 'Basic realm="git"' }));
  await assert.rejects(s.list(), (err: Error) => err instanceof NeedsUser && /needs credentials and git has none\. .*no credential\.helper is configured/.test(err.message));
  assert.equal(s.seen.length, 1);
});

test('401, then the helper\'s credentials are sent, approved once accepted, and sent up front on the next listing', async (t) => {
  const s = await setup(t, (res, _nth, seen) => {
    if (seen.headers.authorization === basic('alice', 's3cret')) return refs(res, [[A, 'refs/heads/main']]);
    status(401, { 'WWW-Authenticate': 'Basic realm="git"' })(res, 0, seen);
  });
  const calls = helper(t, s.fx, 'alice', 's3cret');
  assert.deepEqual([...(await s.list())], [['refs/heads/main', A]]);
  assert.deepEqual(
    s.seen.map((r) => r.headers.authorization),
    [undefined, basic('alice', 's3cret')],
  );
  assert.deepEqual(calls(), ['get', 'store'], 'the helper is asked, then told they worked');
  await s.list();
  assert.equal(s.seen.length, 3, 'one request a poll once the credentials are known');
  assert.equal(s.seen[2].headers.authorization, basic('alice', 's3cret'));
  assert.deepEqual(calls(), ['get', 'store'], 'remembered credentials are not approved again');
});

test('credentials refused later are rejected and asked for again; refused fresh ones need the user', async (t) => {
  let accepted = true;
  const s = await setup(t, (res, _nth, seen) => {
    if (accepted && seen.headers.authorization === basic('alice', 's3cret')) return refs(res, [[A, 'refs/heads/main']]);
    status(401, { 'WWW-Authenticate': 'Basic realm="git"' })(res, 0, seen);
  });
  const calls = helper(t, s.fx, 'alice', 's3cret');
  await s.list();
  accepted = false; // the token is revoked
  await assert.rejects(s.list(), (err: Error) => err instanceof NeedsUser && /refused the credentials git's helpers gave/.test(err.message));
  assert.deepEqual(calls(), ['get', 'store', 'erase', 'get', 'erase'], 'the remembered ones rejected, the helper asked again, its answer rejected too');
  assert.equal(s.seen.length, 2 + 2, 'the remembered credentials, then the helper\'s: no third try');
});
