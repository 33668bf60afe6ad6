// The pure pieces: pkt-lines, the ls-refs answer, ref prefixes, Retry-After, the poll schedule, URL
// normalisation, the fast-path decision, webhook signatures and settings.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { parseConfigList } from '../../shared/gitconfig.js';
import { pktLine, PktReader, PktLineError, MAX_PKT_LEN } from '../../workers/http/pktline.js';
import { LsRefsParser, lsRefsRequest, NotV2Error, ProtocolError } from '../../workers/http/lsrefs.js';
import { refPrefixes, underPrefixes } from '../../workers/http/refprefixes.js';
import { parseRetryAfter, MAX_RETRY_AFTER_MS } from '../../workers/http/retryafter.js';
import { nextPollDelay, phaseOf, pollIntervalSeconds } from '../../workers/http/schedule.js';
import { normaliseRepoUrl, parseRemoteUrl, redactUrl } from '../../workers/http/urls.js';
import { decidePath, userAgent } from '../../workers/http/fallback.js';
import { describe as describeCredential, helperNames } from '../../workers/http/credentials.js';
import { identify, verify } from '../../workers/http/webhook/verify.js';
import { parseListen, webhookSettings } from '../../workers/http/webhook/settings.js';
import { repositoryUrls, parsePayload } from '../../workers/http/webhook/payload.js';
import { SeenBodies } from '../../workers/http/webhook/replay.js';
import { NudgeLimiter, type Clock } from '../../workers/http/webhook/nudges.js';
import { BodyBudget, StreamedBody } from '../../workers/http/webhook/body.js';
import { startProof } from '../../workers/http/webhook/verify.js';
import { conclude, type HandlerContext } from '../../workers/http/webhook/handler.js';
import { httpPlugin } from '../../workers/http/plugin.js';
import { urlKind } from '../../shared/kit/url.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(64);
const config = (entries: [string, string][]) => parseConfigList(entries.map(([k, v]) => `${k}\n${v}\0`).join(''));

test('pkt-lines: framing, split anywhere, special packets, bad headers', () => {
  assert.equal(pktLine('a\n').toString(), '0006a\n');
  const stream = Buffer.concat([pktLine('hello\n'), Buffer.from('000100000002'), pktLine('x')]);
  for (let cut = 0; cut <= stream.length; cut++) {
    const reader = new PktReader();
    const packets = [...reader.push(stream.subarray(0, cut)), ...reader.push(stream.subarray(cut))];
    assert.deepEqual(packets.map((p) => (p.kind === 'data' ? p.payload.toString() : p.kind)), ['hello\n', 'delim', 'flush', 'end', 'x']);
    assert.equal(reader.buffered, 0);
  }
  assert.throws(() => new PktReader().push(Buffer.from('zzzz')), PktLineError);
  assert.throws(() => new PktReader().push(Buffer.from('0003')), /length 3/);
  assert.throws(() => new PktReader().push(Buffer.from('fff1')), /over git's limit/);
  assert.throws(() => pktLine(Buffer.alloc(MAX_PKT_LEN)), PktLineError);
  // An unfinished packet waits, holding at most one packet's bytes.
  const reader = new PktReader();
  assert.deepEqual(reader.push(Buffer.from('fff0abc')), []);
  assert.equal(reader.buffered, 7);
});

test('ls-refs request: command, delim, one ref-prefix per prefix, flush', () => {
  assert.equal(
    lsRefsRequest(['refs/heads/', 'refs/tags/']).toString(),
    '0014command=ls-refs\n' + '001cagent=git-remote-daemon\n' + '0001' + '001bref-prefix refs/heads/\n' + '001aref-prefix refs/tags/\n' + '0000',
  );
});

test('ls-refs answers: refs of either hash, attributes ignored; v0, ERR, empty and malformed refused', () => {
  const parse = (...parts: (string | Buffer)[]) => {
    const parser = new LsRefsParser();
    for (const part of parts) parser.push(typeof part === 'string' ? Buffer.from(part) : part);
    return parser.finish();
  };
  const ok = parse(pktLine(`${A} refs/heads/main\n`), pktLine(`${B} HEAD symref-target:refs/heads/main\n`), '0000');
  assert.deepEqual([...ok], [['refs/heads/main', A], ['HEAD', B]]);
  assert.deepEqual([...parse('0000')], [], 'no refs under the prefixes is a valid answer');
  assert.throws(() => parse(''), NotV2Error);
  assert.throws(() => parse(pktLine(`${A} HEAD\0multi_ack side-band\n`)), NotV2Error);
  assert.throws(() => parse(pktLine('# service=git-upload-pack\n'), '0000'), NotV2Error);
  assert.throws(() => parse(pktLine('ERR access denied\n')), /access denied/);
  assert.throws(() => parse('<html>'), ProtocolError);
  assert.throws(() => parse(pktLine(`${A} refs/heads/main\n`)), /cut short/);
  assert.throws(() => parse(pktLine(`${A} refs/heads/main\n`), pktLine('nonsense\n')), ProtocolError);
  assert.throws(() => parse('0000', pktLine(`${A} refs/heads/x\n`)), /after the end/);
  assert.throws(() => parse(pktLine(`${A} refs/heads/main\n`), '0001'), /delim/);
});

test('ref prefixes come from the refspecs\' sources', () => {
  assert.deepEqual(refPrefixes(['+refs/heads/*:refs/remotes/origin/*'], false), ['refs/heads/']);
  assert.deepEqual(refPrefixes(['+refs/heads/*:refs/remotes/origin/*'], true), ['refs/heads/', 'refs/tags/']);
  assert.deepEqual(refPrefixes(['refs/heads/main:refs/remotes/origin/main', '+refs/heads/*:refs/remotes/o/*', '^refs/heads/tmp/*'], false), ['refs/heads/']);
  assert.deepEqual(refPrefixes(['+refs/heads/feature-*:refs/remotes/o/feature-*'], false), ['refs/heads/feature-']);
  assert.deepEqual(refPrefixes(['main'], false), ['main', 'refs/heads/main', 'refs/main', 'refs/remotes/main', 'refs/tags/main']);
  assert.deepEqual(refPrefixes([], false), ['HEAD']);
  assert.deepEqual(refPrefixes(['*:refs/all/*'], true), []);
  assert.deepEqual(refPrefixes([`${A}:refs/x`, 'HEAD:refs/remotes/o/HEAD'], false), ['HEAD']);
  const refs = new Map([['refs/heads/a', A], ['refs/tags/v1', A], ['HEAD', A]]);
  assert.deepEqual([...underPrefixes(refs, ['refs/heads/']).keys()], ['refs/heads/a']);
  assert.equal(underPrefixes(refs, []).size, 3);
});

test('Retry-After: seconds, HTTP dates (all three forms), nonsense, bounds', () => {
  const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
  assert.equal(parseRetryAfter('120', now), 120_000);
  assert.equal(parseRetryAfter(' 0 ', now), 0);
  assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:30 GMT', now), 30_000);
  assert.equal(parseRetryAfter('Wednesday, 21-Oct-15 07:28:30 GMT', now), 30_000);
  assert.equal(parseRetryAfter('Wed Oct 21 07:28:30 2015', now), 30_000, 'asctime, which is GMT whatever the local zone');
  assert.equal(parseRetryAfter('Tue, 20 Oct 2015 07:28:00 GMT', now), 0, 'a date in the past means now');
  assert.equal(parseRetryAfter('999999999', now), MAX_RETRY_AFTER_MS);
  assert.equal(parseRetryAfter('-5', now), undefined);
  assert.equal(parseRetryAfter('soon', now), undefined);
  assert.equal(parseRetryAfter('1.5', now), undefined);
  assert.equal(parseRetryAfter(undefined, now), undefined);
});

test('poll schedule: slots at the URL\'s phase, jitter within 10%, never sooner than half an interval', () => {
  const interval = 60_000;
  const phase = phaseOf('https://example.org/a.git');
  assert.equal(phase, phaseOf('https://example.org/a.git'), 'stable');
  assert.ok(phase >= 0 && phase < 1);
  for (let now = 0; now < 5 * interval; now += 7_919) {
    const exact = nextPollDelay(interval, phase, now, 0.5);
    const landing = now + exact;
    assert.ok(Math.abs((((landing - phase * interval) % interval) + interval) % interval) < 2, 'on a slot');
    assert.ok(exact >= interval / 2 && exact <= 1.5 * interval);
    const early = nextPollDelay(interval, phase, now, 0);
    const late = nextPollDelay(interval, phase, now, 1);
    assert.equal(exact - early, 6_000);
    assert.equal(late - exact, 6_000);
  }
  // Ten remotes on one host: their phases spread over the interval.
  const phases = Array.from({ length: 10 }, (_, i) => phaseOf(`https://example.org/repo${i}.git`)).sort();
  assert.ok(phases.at(-1)! - phases[0] > 0.5, `spread: ${phases.join(', ')}`);
  assert.equal(pollIntervalSeconds(60, false), 60);
  assert.equal(pollIntervalSeconds(0, false), 1);
  assert.equal(pollIntervalSeconds(60, true), 600);
  assert.equal(pollIntervalSeconds(600, true), 3600);
  assert.equal(pollIntervalSeconds(7200, true), 7200, 'never faster than configured');
});

test('URLs: parsed without userinfo, normalised for matching, redacted', () => {
  const url = parseRemoteUrl('HTTPS://bob:p%40ss@Example.ORG:443/Owner/Repo.git/')!;
  assert.deepEqual(url, { scheme: 'https', host: 'example.org', path: '/Owner/Repo.git', username: 'bob', password: 'p@ss', display: 'https://example.org/Owner/Repo.git' });
  assert.equal(parseRemoteUrl('git://example.org:9419/r.git')!.port, 9419);
  assert.equal(parseRemoteUrl('ssh://example.org/r.git'), undefined);
  const same = [
    'https://github.com/Owner/Repo',
    'https://github.com/Owner/Repo.git',
    'https://user:token@GitHub.com/Owner/Repo.git/',
    'https://github.com:443/Owner/Repo/',
  ];
  for (const u of same) assert.equal(normaliseRepoUrl(u), 'https://github.com/Owner/Repo', u);
  assert.equal(normaliseRepoUrl('git@github.com:Owner/Repo.git'), 'ssh://github.com/Owner/Repo');
  assert.equal(normaliseRepoUrl('ssh://git@github.com/Owner/Repo.git'), 'ssh://github.com/Owner/Repo');
  assert.equal(normaliseRepoUrl('git://github.com/Owner/Repo.git'), 'git://github.com/Owner/Repo');
  assert.notEqual(normaliseRepoUrl('https://github.com/owner/repo'), normaliseRepoUrl('https://github.com/Owner/Repo'), 'paths keep their case');
  assert.equal(redactUrl('https://u:p@h/x'), 'https://h/x');
});

test('fast path or git ls-remote: conservative about http.* settings and the environment', () => {
  const none = {};
  assert.deepEqual(decidePath('https', 'origin', config([['http.postbuffer', '1m'], ['http.sslverify', 'true']]), none), { fastPath: true, reasons: [] });
  const slow = (entries: [string, string][], env: NodeJS.ProcessEnv = none, scheme: 'http' | 'https' | 'git' = 'https') => decidePath(scheme, 'origin', config(entries), env);
  assert.deepEqual(slow([['http.proxy', 'http://proxy:3128']]).reasons, ['http.proxy is set']);
  assert.deepEqual(slow([['http.sslverify', 'false']]).reasons, ['http.sslVerify is not true']);
  assert.deepEqual(slow([['http.https://example.org/.extraheader', 'X: y']]).reasons, ['http.https://example.org/.extraheader is set']);
  // CA settings are honoured by our request (trust.ts): which per-URL one applies, git says later.
  assert.deepEqual(slow([['http.sslcainfo', '/ca.pem']]), { fastPath: true, reasons: [], ca: { inConfig: true } });
  assert.deepEqual(slow([['http.sslcapath', '/cas']]), { fastPath: true, reasons: [], ca: { inConfig: true } });
  assert.deepEqual(slow([['http.https://example.org/.sslcainfo', '/ca.pem']]), { fastPath: true, reasons: [], ca: { inConfig: true } });
  assert.deepEqual(slow([['http.https://example.org/.sslcert', '/c.pem']]).reasons, ['http.https://example.org/.sslcert is set'], 'other per-URL keys still go to git');
  assert.deepEqual(slow([['http.sslcainfo', '/ca.pem']], none, 'http'), { fastPath: true, reasons: [] }, 'TLS settings do not matter to http://');
  assert.deepEqual(slow([['http.sslcert', '/c.pem']]).reasons, ['http.sslcert is set']);
  assert.equal(slow([['http.cookiefile', '/c']]).fastPath, false);
  assert.equal(slow([['http.somethingnew', 'x']]).fastPath, false, 'unknown keys are not assumed harmless');
  assert.equal(slow([['remote.origin.proxy', 'http://p']]).fastPath, false);
  assert.equal(slow([['remote.other.proxy', 'http://p']]).fastPath, true);
  assert.equal(slow([['protocol.https.allow', 'never']]).fastPath, false);
  assert.equal(slow([], { HTTPS_PROXY: 'http://p' }).fastPath, false);
  assert.equal(slow([], { NO_PROXY: 'example.org' }).fastPath, false);
  assert.deepEqual(slow([], { GIT_SSL_CAINFO: '/ca' }), { fastPath: true, reasons: [], ca: { inConfig: false, caInfoEnv: '/ca' } });
  assert.deepEqual(slow([['http.sslcapath', '/d']], { GIT_SSL_CAINFO: '/ca', GIT_SSL_CAPATH: '/cas' }).ca, { inConfig: true, caInfoEnv: '/ca', caPathEnv: '/cas' });
  assert.deepEqual(slow([], { GIT_SSL_CAINFO: '/ca' }, 'http'), { fastPath: true, reasons: [] });
  assert.deepEqual(slow([], { SSL_CERT_FILE: '/ca' }).reasons, ['SSL_CERT_FILE is set in the environment'], 'OpenSSL/curl defaults are left to git');
  assert.deepEqual(slow([], { GIT_SSL_CERT: '/c' }).reasons, ['GIT_SSL_CERT is set in the environment']);
  assert.equal(slow([['core.gitproxy', 'proxy-cmd']], none, 'git').fastPath, false);
  assert.equal(slow([], { GIT_PROXY_COMMAND: 'x' }, 'git').fastPath, false);
  assert.equal(slow([['http.proxy', 'http://p']], none, 'git').fastPath, true, 'http.* does not apply to git://');
  assert.equal(userAgent(config([['http.useragent', 'corp-git/1']]), none), 'corp-git/1');
  assert.equal(userAgent(config([]), { GIT_HTTP_USER_AGENT: 'env/1' }), 'env/1');
});

test('the plugin claims http, https and git URLs and turns config into plain options', () => {
  assert.equal(httpPlugin.name, 'http');
  assert.equal(httpPlugin.network, true);
  for (const [url, claimed] of [
    ['https://example.org/r.git', true],
    ['HTTP://example.org/r.git', true],
    ['git://example.org/r.git', true],
    ['ssh://example.org/r.git', false],
    ['example.org:r.git', false],
    ['/srv/r.git', false],
    ['https::example', false],
  ] as const) {
    assert.equal(httpPlugin.claims(url, urlKind(url)), claimed, url);
  }
  const cfg = config([['credential.helper', 'store --file /secret/place'], ['credential.helper', '!f() { echo password=hunter2; }; f']]);
  const decided = httpPlugin.remoteOptions!({ name: 'origin', url: 'https://example.org/r.git', config: cfg, env: {}, get: () => undefined });
  assert.ok('options' in decided);
  assert.deepEqual(decided.options, { fastPath: true, fallbackReasons: [], userAgent: 'git/2 (git-remote-daemon)', credentialHelpers: ['store', 'a shell command'] });
  assert.ok(!JSON.stringify(decided).includes('hunter2'));
  assert.deepEqual(structuredClone(decided.options), decided.options, 'plain data');
  assert.deepEqual(helperNames(config([['credential.helper', 'cache'], ['credential.helper', ''], ['credential.helper', 'store']])), ['store']);
  const bad = httpPlugin.remoteOptions!({ name: 'o', url: 'https://user:pw@[bad/r', config: cfg, env: {}, get: () => undefined });
  assert.ok('ignore' in bad && !bad.ignore.includes('pw'));
});

test('credential descriptions: path always (git drops it unless useHttpPath), userinfo passed on', () => {
  assert.equal(describeCredential(parseRemoteUrl('https://bob@example.org:8443/a/b.git')!), 'protocol=https\nhost=example.org:8443\npath=a/b.git\nusername=bob\n\n');
});

test('webhook signatures: each forge\'s scheme, constant-length checks, wrong secrets and bodies refused', () => {
  const body = Buffer.from('{"ref":"refs/heads/main"}');
  const secret = 'shh';
  const hex = createHmac('sha256', secret).update(body).digest('hex');
  const gh = { 'x-github-event': 'push', 'x-github-delivery': 'id1', 'x-hub-signature-256': `sha256=${hex}` };
  assert.deepEqual(identify(gh), { forge: 'github', event: 'push', id: 'id1' });
  assert.equal(verify('github', gh, body, secret), true);
  assert.equal(verify('github', gh, body, 'other'), false);
  assert.equal(verify('github', gh, Buffer.from('{"ref":"refs/heads/evil"}'), secret), false);
  assert.equal(verify('github', { 'x-hub-signature-256': hex }, body, secret), false, 'the sha256= prefix is required');
  assert.equal(verify('github', { 'x-hub-signature-256': 'sha256=abc' }, body, secret), false, 'short signatures do not throw');
  assert.equal(verify('github', gh, body, ''), false, 'an empty secret verifies nothing');
  assert.equal(identify({ 'x-gitea-event': 'push', 'x-github-event': 'push', 'x-gitea-delivery': 'g' })!.forge, 'gitea');
  assert.equal(identify({ 'x-forgejo-event': 'push', 'x-gitea-event': 'push', 'x-forgejo-delivery': 'f' })!.forge, 'forgejo');
  assert.equal(verify('gitea', { 'x-gitea-signature': hex }, body, secret), true);
  assert.equal(verify('forgejo', { 'x-forgejo-signature': hex }, body, secret), true);
  assert.equal(verify('gitlab', { 'x-gitlab-token': secret }, body, secret), true);
  assert.equal(verify('gitlab', { 'x-gitlab-token': `${secret}x` }, body, secret), false);
  assert.equal(identify({}), undefined);
});

test('webhook payloads: every URL of the repository, form-encoded too', () => {
  const payload = { repository: { clone_url: 'https://h/o/r.git', ssh_url: 'git@h:o/r.git', html_url: 'https://h/o/r', name: 'r' }, project: { git_http_url: 'https://h/o/r.git' } };
  assert.deepEqual([...repositoryUrls(payload)].sort(), ['https://h/o/r', 'ssh://h/o/r']);
  const form = Buffer.from(new URLSearchParams({ payload: JSON.stringify(payload) }).toString());
  assert.deepEqual(parsePayload(form, 'application/x-www-form-urlencoded'), payload);
  assert.deepEqual([...repositoryUrls('nope')], []);
  assert.deepEqual([...repositoryUrls({ repository: { clone_url: 42 } })], []);
});

test('webhook settings: off unless listen is set; loopback unless allowed; a secret required', () => {
  assert.equal(webhookSettings(config([])), undefined);
  assert.deepEqual(webhookSettings(config([['remotedaemon.webhook.listen', '127.0.0.1:9000'], ['remotedaemon.webhook.secret', 's']])), {
    settings: { listen: { host: '127.0.0.1', port: 9000 }, secret: 's' },
  });
  assert.deepEqual(parseListen('9000'), { host: '127.0.0.1', port: 9000 });
  assert.deepEqual(parseListen('[::1]:9000'), { host: '::1', port: 9000 });
  assert.equal(parseListen('host:99999'), undefined);
  assert.equal(parseListen('a b:1'), undefined);
  const remote = webhookSettings(config([['remotedaemon.webhook.listen', '0.0.0.0:9000'], ['remotedaemon.webhook.secret', 's']]))!;
  assert.equal(remote.settings.listen, null);
  assert.match(remote.problems![0], /not a loopback address/);
  const allowed = webhookSettings(config([['remotedaemon.webhook.listen', '0.0.0.0:9000'], ['remotedaemon.webhook.secret', 's'], ['remotedaemon.webhook.allowremote', 'true']]))!;
  assert.deepEqual(allowed.settings.listen, { host: '0.0.0.0', port: 9000 });
  const secretless = webhookSettings(config([['remotedaemon.webhook.listen', '9000']]))!;
  assert.equal(secretless.settings.listen, null);
  assert.match(secretless.problems![0], /secret/);
  const file = webhookSettings(config([['remotedaemon.webhook.listen', '9000'], ['remotedaemon.webhook.secretfile', '/etc/hook-secret']]))!;
  assert.deepEqual(file.settings, { listen: { host: '127.0.0.1', port: 9000 }, secretFile: '/etc/hook-secret' });
});

test('seen bodies are bounded, oldest first out', () => {
  const seen = new SeenBodies(3);
  for (const id of ['a', 'b', 'c', 'd']) seen.add(id);
  assert.deepEqual(['a', 'b', 'c', 'd'].map((id) => seen.has(id)), [false, true, true, true]);
});

test('nudges per remote: a burst at once, then one held and merged per refill; other remotes unaffected; forget cancels', () => {
  let now = 0;
  const timers: { at: number; fn: () => void; cancelled: boolean }[] = [];
  const clock: Clock = {
    now: () => now,
    later: (fn, ms) => {
      const timer = { at: now + ms, fn, cancelled: false };
      timers.push(timer);
      return () => (timer.cancelled = true);
    },
  };
  const advance = (ms: number) => {
    now += ms;
    for (const timer of timers.splice(0)) if (timer.cancelled || timer.at > now) timers.push(timer); else timer.fn();
  };
  const sent: string[] = [];
  const limiter = new NudgeLimiter((remote, forge) => sent.push(`${remote}:${forge}`), clock, 3, 1000);
  assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => limiter.nudge('a', 'github')), ['now', 'now', 'now', 'held', 'merged', 'merged']);
  assert.equal(limiter.nudge('b', 'gitlab'), 'now', 'another remote has its own bucket');
  assert.equal(sent.length, 4);
  limiter.nudge('a', 'gitea'); // merged: the held nudge goes with the latest forge
  advance(999);
  assert.equal(sent.length, 4);
  advance(1);
  assert.deepEqual(sent.slice(4), ['a:gitea'], 'the held nudge, once');
  advance(5000);
  assert.equal(sent.length, 5);
  // Refilled to the burst, not beyond.
  assert.deepEqual([1, 2, 3, 4].map(() => limiter.nudge('a', 'github')), ['now', 'now', 'now', 'held']);
  limiter.forget('a');
  advance(5000);
  assert.equal(sent.length, 8, 'a forgotten remote gets nothing held for it');
});

test('streamed bodies: hashed and verified whole, kept up to the cap and within the shared budget, given back', () => {
  const secret = 's';
  const text = Buffer.from('x'.repeat(100_000));
  const headers = { 'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(text).digest('hex')}` };
  const budget = new BodyBudget(150_000);
  const feed = (body: StreamedBody) => {
    for (let i = 0; i < text.length; i += 7) body.write(text.subarray(i, i + 7));
  };
  const one = new StreamedBody(startProof('github', headers, secret)!, budget, 120_000);
  feed(one);
  assert.ok(budget.inUse >= 100_000);
  // A second body cannot be kept while the first holds most of the budget: hashed only.
  const two = new StreamedBody(startProof('github', headers, secret)!, budget, 120_000);
  feed(two);
  const first = one.finish();
  const second = two.finish();
  assert.equal(budget.inUse, 0, 'all given back');
  assert.deepEqual(first.kept, text);
  assert.equal(first.verified, true);
  assert.equal(second.kept, undefined);
  assert.equal(second.verified, true);
  assert.equal(second.digest, first.digest);
  // Over the per-body cap: not kept, still verified; a wrong signature fails at the end.
  const small = new StreamedBody(startProof('github', headers, secret)!, budget, 50_000);
  feed(small);
  assert.equal(budget.inUse, 0);
  assert.equal(small.finish().kept, undefined);
  const wrong = new StreamedBody(startProof('github', headers, 'other')!, budget);
  feed(wrong);
  wrong.release();
  assert.equal(wrong.finish().verified, false);
  assert.equal(budget.inUse, 0);
  assert.equal(startProof('github', { 'x-hub-signature-256': 'sha256=zz' }, secret), undefined, 'a malformed signature is refused from the headers');
  assert.equal(startProof('gitlab', { 'x-gitlab-token': 'nope' }, secret), undefined, 'a wrong GitLab token is refused from the headers');
});

test('a verified push: its payload picks the remotes; without its payload (not kept), every remote; a second copy of a body is a replay', () => {
  const context: HandlerContext = {
    secret: 's',
    seen: new SeenBodies(),
    budget: new BodyBudget(),
    match: (urls) => (urls.has('https://h/o/r') ? ['origin'] : []),
    all: () => ['origin', 'mirror'],
  };
  const push = { forge: 'github' as const, event: 'push', id: undefined };
  const payload = Buffer.from(JSON.stringify({ repository: { clone_url: 'https://h/o/r.git' } }));
  assert.deepEqual(conclude(push, { digest: 'd1', size: payload.length, verified: true, kept: payload }, 'application/json', context).nudge, { remotes: ['origin'], forge: 'github' });
  assert.deepEqual(conclude(push, { digest: 'd1', size: payload.length, verified: true, kept: payload }, 'application/json', context).status, 200, 'the same body again');
  assert.deepEqual(conclude(push, { digest: 'd2', size: 600_000, verified: true, kept: undefined }, undefined, context).nudge, { remotes: ['origin', 'mirror'], forge: 'github' });
  assert.equal(conclude(push, { digest: 'd3', size: 10, verified: false, kept: payload }, undefined, context).status, 401);
  assert.equal(conclude(push, { digest: 'd4', size: 3, verified: true, kept: Buffer.from('{{{') }, undefined, context).status, 400);
});
