// workers/p2p/commands.ts: what `git remote-daemon p2p pair|address|bootstrap` do with what the
// other side sends and with their own failures, against a stand-in for magic-wormhole (a script
// on PATH that answers as told). test/p2p/pair.test.ts pairs two repositories through a real
// mailbox server; here: an answer that is no peer address, our own address, a peer already a
// remote, a wormhole that fails, a relay URL passed on quoted, the hint outside a repository, a
// bad bootstrap port. The commands print to the process's stdout and set its exit code, so they
// run in one child process (a driver), case after case, each in its own directory and
// environment, its output captured.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addressOf, fingerprint } from '../../workers/p2p/address.js';
import { loadIdentity } from '../../workers/p2p/identity.js';
import { git, tempDir } from '../support/git.js';

const COMMANDS = new URL('../../workers/p2p/commands.js', import.meta.url).href;
const THEIRS = 'a'.repeat(64);

/** Runs each case's command in turn (chdir, env), capturing what it prints and its exit code. */
const DRIVER = `
const commands = await import(${JSON.stringify(COMMANDS)});
const cases = JSON.parse(process.env.GRD_CASES);
const results = [];
const write = { out: process.stdout.write.bind(process.stdout) };
for (const c of cases) {
  process.chdir(c.cwd);
  Object.assign(process.env, c.env);
  let stdout = '';
  let stderr = '';
  process.stdout.write = (chunk) => ((stdout += chunk), true);
  process.stderr.write = (chunk) => ((stderr += chunk), true);
  process.exitCode = 0;
  const [name, ...args] = c.call;
  // JSON has no undefined: null stands for an argument not given.
  await commands.run(() => commands[name](...args.map((a) => (a === null ? undefined : a))));
  results.push({ stdout, stderr, code: process.exitCode });
}
process.exitCode = 0;
write.out(JSON.stringify(results));
`;

interface Case {
  cwd: string;
  env?: Record<string, string>;
  call: [string, ...unknown[]];
}

interface Result {
  stdout: string;
  stderr: string;
  code: number;
}

function drive(cases: Case[], path: string): Promise<Result[]> {
  return new Promise((resolve, reject) =>
    execFile(
      process.execPath,
      ['--input-type=module', '-e', DRIVER],
      { env: { ...process.env, PATH: path, GRD_CASES: JSON.stringify(cases.map((c) => ({ env: {}, ...c }))) } },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout) as Result[])),
    ),
  );
}

/** A magic-wormhole stand-in: logs its arguments; receive prints FAKE_THEIRS or fails with FAKE_FAIL; send --text makes a code. */
function fakeWormhole(dir: string): { path: string; calls: () => string[] } {
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const log = join(dir, 'wormhole.log');
  writeFileSync(log, '');
  writeFileSync(
    join(bin, 'wormhole'),
    `#!/bin/sh
[ "$1" = --version ] && exit 0
echo "$*" >> ${JSON.stringify(log)}
[ "$1" = --relay-url ] && shift 2
if [ -n "$FAKE_FAIL" ]; then echo "connecting..." >&2; echo "$FAKE_FAIL" >&2; exit 1; fi
case "$1" in
  send) [ "$2" = --text ] && echo "Wormhole code is: 7-fake-code" >&2; exit 0 ;;
  receive) printf '%s\\n' "$FAKE_THEIRS" ;;
esac
`,
  );
  chmodSync(join(bin, 'wormhole'), 0o755);
  // Ours first: found before any real magic-wormhole installed.
  return { path: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, calls: () => readFileSync(log, 'utf8').split('\n').filter(Boolean) };
}

async function repo(name: string, root: string): Promise<{ dir: string; mine: string }> {
  const dir = join(root, name);
  git(root, 'init', '-q', dir);
  const me = await loadIdentity(join(dir, '.git'), { create: true });
  return { dir, mine: addressOf(me.publicKey) };
}

test('pair checks what the other side sends before adding anything; wormhole failures, the relay hint, no repository and a bad bootstrap port are each one clear line', { timeout: 20_000 }, async (t) => {
  const d = tempDir('grd-p2pcommands-');
  t.after(d.cleanup);
  const wormhole = fakeWormhole(d.path);
  const fresh = await repo('fresh', d.path);
  const known = await repo('known', d.path);
  git(known.dir, 'remote', 'add', 'laptop', addressOf(THEIRS));
  const refusing = await repo('refusing', d.path);
  const outside = join(d.path, 'not-a-repository');
  mkdirSync(outside);

  const results = await drive(
    [
      // A code given: receive theirs, then send ours on that code.
      { cwd: fresh.dir, env: { FAKE_THEIRS: addressOf(THEIRS), FAKE_FAIL: '' }, call: ['pair', '7-given-code', { name: 'buddy' }] },
      // No code: one is made and shown, with the relay URL quoted for a shell; theirs is a remote already.
      { cwd: known.dir, env: { FAKE_THEIRS: addressOf(THEIRS) }, call: ['pair', undefined, { name: 'buddy', relayUrl: "ws://relay.example:4000/v1?a b'c" }] },
      { cwd: refusing.dir, env: { FAKE_THEIRS: 'Hello! <script>' }, call: ['pair', '7-x', { name: 'buddy' }] },
      { cwd: refusing.dir, env: { FAKE_THEIRS: refusing.mine }, call: ['pair', '7-x', { name: 'buddy' }] },
      { cwd: refusing.dir, env: { FAKE_FAIL: 'ERROR: Key confirmation failed. Either you or your correspondent\ntyped the code wrong' }, call: ['pair', '7-x', { name: 'buddy' }] },
      { cwd: outside, env: { FAKE_FAIL: '' }, call: ['address', {}] },
      { cwd: outside, call: ['bootstrap', { host: '127.0.0.1', port: '70000x' }] },
      { cwd: outside, call: ['bootstrap', { host: '0.0.0.0', port: '4000' }] },
    ],
    wormhole.path,
  );
  const [paired, already, garbage, itself, failed, noRepo, badPort, badHost] = results;

  assert.equal(paired.code, 0, paired.stderr);
  assert.equal(paired.stdout, `paired with ${addressOf(THEIRS)} (remote buddy)\n`);
  assert.match(paired.stderr, new RegExp(`this repository: ${fingerprint(keyOfAddress(fresh.mine))}\\n  buddy: ${fingerprint(THEIRS)}`));
  assert.equal(git(fresh.dir, 'config', 'remote.buddy.url'), addressOf(THEIRS));

  assert.equal(already.code, 0, already.stderr);
  assert.match(already.stderr, /^code: 7-fake-code\non the other repository run: {2}git remote-daemon p2p pair --relay-url 'ws:\/\/relay\.example:4000\/v1\?a b'\\''c' 7-fake-code\n/);
  assert.match(already.stderr, /already a remote: laptop\n/);
  assert.equal(already.stdout, `paired with ${addressOf(THEIRS)}\n`);
  assert.equal(git(known.dir, 'remote'), 'laptop', 'no second remote for the same peer');

  assert.equal(garbage.code, 1);
  assert.equal(garbage.stderr, 'git-remote-daemon: the other side sent "Hello! <script>", which is not a peer address\n');
  assert.equal(itself.code, 1);
  assert.equal(itself.stderr, 'git-remote-daemon: the other side has this same address: pair two different repositories\n');
  assert.equal(failed.code, 1);
  // One line: git's last line of what wormhole said, and what to do.
  assert.equal(failed.stderr, 'git-remote-daemon: wormhole receive failed: typed the code wrong; check the network and --relay-url, or pair by hand (git remote-daemon p2p address, then git remote add)\n');
  assert.equal(git(refusing.dir, 'remote'), '', 'nothing was added');

  assert.equal(noRepo.code, 1);
  assert.match(noRepo.stderr, /^git-remote-daemon: not a git repository.*; run it inside a repository, or name one with -C <dir>\n$/);
  assert.equal(badPort.code, 1);
  assert.equal(badPort.stderr, 'git-remote-daemon: --port must be a port number (1-65535), got "70000x"\n');
  assert.equal(badHost.code, 1);
  assert.match(badHost.stderr, /^git-remote-daemon: --host must be the one address peers reach it at, not 0\.0\.0\.0/);

  assert.deepEqual(wormhole.calls(), [
    'receive --only-text 7-given-code',
    `send --code 7-given-code --text ${fresh.mine}`,
    `--relay-url ws://relay.example:4000/v1?a b'c send --text ${known.mine}`,
    "--relay-url ws://relay.example:4000/v1?a b'c receive --only-text 7-fake-code",
    // Ours goes on the code before theirs is looked at: an address is no secret, and the other side waits for it.
    'receive --only-text 7-x',
    `send --code 7-x --text ${refusing.mine}`,
    'receive --only-text 7-x',
    `send --code 7-x --text ${refusing.mine}`,
    'receive --only-text 7-x',
  ]);
});

function keyOfAddress(address: string): string {
  const key = /^p2p:\/\/(.+)$/.exec(address)![1];
  return Buffer.from(decodeZ(key)).toString('hex');
}

/** z-base-32, as hypercore-id-encoding writes keys. */
function decodeZ(text: string): Uint8Array {
  const alphabet = 'ybndrfg8ejkmcpqxot1uwisza345h769';
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const ch of text) {
    value = (value << 5) | alphabet.indexOf(ch);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Uint8Array.from(out);
}
