// The XMPP account's password (workers/xmpp/credentials.ts): from a file only its owner can read,
// or from git's credential helpers, a real `git credential` with a helper configured in a
// temporary repository. The password never shows in an error.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CredentialProblem, passwordFromFile, passwordFromGit, reportToGit } from '../../workers/xmpp/credentials.js';
import { git, tempDir } from '../support/git.js';

const ACCOUNT = { local: 'alice', domain: 'chat.example' };
const SECRET = 's3cret pass';

function dir(t: TestContext): string {
  const d = tempDir('grd-xmppcred-');
  t.after(d.cleanup);
  return d.path;
}

const problem = (pattern: RegExp) => (err: Error) => {
  assert.ok(err instanceof CredentialProblem, `${err.name}: ${err.message}`);
  assert.match(err.message, pattern);
  assert.ok(!err.message.includes(SECRET), 'the password is never in a message');
  return true;
};

test('a password file is read without its final newline, and only when only its owner can read it', async (t) => {
  const file = join(dir(t), 'password');
  writeFileSync(file, `${SECRET}\r\n`, { mode: 0o600 });
  assert.equal(await passwordFromFile(file), SECRET);
  writeFileSync(file, `${SECRET}\n\n`);
  assert.equal(await passwordFromFile(file), `${SECRET}\n`, 'only one newline is the file\'s own');
  for (const mode of [0o640, 0o604]) {
    chmodSync(file, mode);
    await assert.rejects(passwordFromFile(file), problem(new RegExp(`is readable by others \\(mode ${mode.toString(8)}\\); chmod 600 it$`)));
  }
  chmodSync(file, 0o600);
  writeFileSync(file, '\n');
  await assert.rejects(passwordFromFile(file), problem(/is empty$/));
  await assert.rejects(passwordFromFile(join(dir(t), 'none')), problem(/^cannot read remotedaemon\.xmpp\.passwordFile .*: ENOENT$/));
});

/** A repository whose credential helper answers `answer` and logs what it is asked. */
function repoWithHelper(t: TestContext, answer: string): { repo: string; log: () => string } {
  const root = dir(t);
  git(root, 'init', '-q', 'repo');
  const repo = join(root, 'repo');
  const log = join(root, 'helper.log');
  const helper = join(root, 'helper.sh');
  writeFileSync(helper, `#!/bin/sh\n{ echo "== $1"; cat; } >> '${log}'\nif [ "$1" = get ]; then printf '%s' '${answer}'; fi\n`, { mode: 0o755 });
  git(repo, 'config', 'credential.helper', helper);
  writeFileSync(log, '');
  return { repo, log: () => readFileSync(log, 'utf8') };
}

test('git\'s helpers are asked for protocol=xmpp, the domain and the local part, and their password is used', async (t) => {
  const { repo, log } = repoWithHelper(t, `password=${SECRET}\n`);
  assert.equal(await passwordFromGit(repo, ACCOUNT), SECRET);
  assert.match(log(), /== get\n(.*\n)*protocol=xmpp\nhost=chat\.example\nusername=alice\n/);
});

test('no helper, or one without a password, is a CredentialProblem saying what to do', async (t) => {
  const root = dir(t);
  git(root, 'init', '-q', 'bare-repo');
  await assert.rejects(passwordFromGit(join(root, 'bare-repo'), ACCOUNT), problem(/^no password for alice@chat\.example from git's credential helpers \(store one with a helper for protocol=xmpp host=chat\.example, or set remotedaemon\.xmpp\.passwordFile\)$/));
  const { repo } = repoWithHelper(t, 'username=alice\n');
  await assert.rejects(passwordFromGit(repo, ACCOUNT), problem(/^no password for alice@chat\.example/), 'git itself refuses to go on without one');
});

test('how the password did is reported to the helpers: approved as store, refused as erase, with the password', async (t) => {
  const { repo, log } = repoWithHelper(t, '');
  await reportToGit(repo, ACCOUNT, SECRET, true);
  await reportToGit(repo, ACCOUNT, SECRET, false);
  const calls = log().split('== ').filter(Boolean);
  assert.deepEqual(calls.map((c) => c.split('\n')[0]), ['store', 'erase']);
  for (const call of calls) assert.match(call, new RegExp(`protocol=xmpp\\nhost=chat\\.example\\nusername=alice\\npassword=${SECRET}\\n`));
});
