// The XMPP carrier's config and credentials: what turns it on, what is refused, and that a
// password is never asked for interactively nor read from a file others can read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_TRUST, ownTrust, xmppCarrier } from '../../workers/xmpp/plugin.js';
import { passwordFromFile, passwordFromGit } from '../../workers/xmpp/credentials.js';
import { git, tempDir } from '../support/git.js';

const settings = (entries: [string, string[]][]) => xmppCarrier.endpoint.settings(new Map(entries));

test('remotedaemon.xmpp.* turns the carrier on, and bad values are said, not guessed at', () => {
  assert.equal(settings([]), undefined, 'no jid: not running');
  assert.deepEqual(settings([['remotedaemon.xmpp.jid', ['Me@Example.org']], ['remotedaemon.xmpp.trust', ['work@example.com', 'not a jid']]]), {
    settings: { jid: 'me@example.org', trust: ['work@example.com'] },
    problems: ['remotedaemon.xmpp.trust "not a jid" is not an account address (user@domain); ignored'],
  });
  const full = settings([['remotedaemon.xmpp.jid', ['me@example.org/phone']]])!;
  assert.equal(full.settings, undefined, 'a full JID is refused: the resource is the daemon\'s own');
  assert.match(full.problems![0]!, /not an account address/);
  const tls = settings([['remotedaemon.xmpp.jid', ['me@example.org']], ['remotedaemon.xmpp.service', ['xmpps://host:5223']]])!;
  assert.equal(tls.settings, undefined);
  assert.match(tls.problems![0]!, /STARTTLS, verified for the account's domain/);
  assert.deepEqual(settings([['remotedaemon.xmpp.jid', ['me@example.org']], ['remotedaemon.xmpp.service', ['xmpp://127.0.0.1:5222']], ['remotedaemon.xmpp.passwordfile', ['/p']]])!.settings, {
    jid: 'me@example.org',
    trust: [],
    service: 'xmpp://127.0.0.1:5222',
    passwordFile: '/p',
  });
});

test('a trust list is bounded, and each repository\'s own: one spelling for equal lists, never in the login\'s settings', () => {
  const many = Array.from({ length: MAX_TRUST + 1 }, (_, i) => `c${i}@example.com`);
  const read = settings([['remotedaemon.xmpp.jid', ['me@example.org']], ['remotedaemon.xmpp.trust', many]])!;
  assert.deepEqual(read.settings!.trust, many.slice(0, MAX_TRUST));
  assert.deepEqual(read.problems, [`remotedaemon.xmpp.trust "c${MAX_TRUST}@example.com" is past the ${MAX_TRUST} accounts one repository may trust; ignored`]);
  assert.deepEqual(ownTrust({ jid: 'me@example.org', trust: ['b@x.org', 'a@x.org', 'b@x.org'] }), { trust: ['a@x.org', 'b@x.org'] });
  assert.deepEqual(xmppCarrier.endpoint.own?.keys, ['trust'], 'not compared to share a login; the login never gets it');
});

test('a password file must be 0600; its password is read without the trailing newline', async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const file = join(dir.path, 'pw');
  writeFileSync(file, 's3cret\n');
  chmodSync(file, 0o644);
  await assert.rejects(passwordFromFile(file), (err: Error) => /readable by others \(mode 644\); chmod 600/.test(err.message) && !err.message.includes('s3cret'));
  chmodSync(file, 0o600);
  assert.equal(await passwordFromFile(file), 's3cret');
  await assert.rejects(passwordFromFile(join(dir.path, 'missing')), /ENOENT/);
});

test('git credential fill: never a prompt; no helper is a prompt failure at once, a helper answers', async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  git(dir.path, 'init', '-q');
  // A terminal prompt would hang this test: git must give up at once.
  const started = Date.now();
  await assert.rejects(passwordFromGit(dir.path, { local: 'me', domain: 'example.org' }), /no password for me@example.org/);
  assert.ok(Date.now() - started < 5000);
  const store = join(dir.path, 'store');
  writeFileSync(store, 'xmpp://me:p%40ss@example.org\nxmpp://other:nope@example.org\n');
  git(dir.path, 'config', 'credential.helper', `store --file=${store}`);
  assert.equal(await passwordFromGit(dir.path, { local: 'me', domain: 'example.org' }), 'p@ss');
});
