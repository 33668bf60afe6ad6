// known_hosts parsing and host key checks, cross-checked against OpenSSH's own ssh-keygen.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  addKnownHost,
  checkHostKey,
  fingerprint,
  hostKeyAlgorithmsFor,
  hostMatches,
  keyTypeOf,
  knownHostsName,
  loadKnownHosts,
  parseKnownHosts,
} from '../../workers/ssh/knownhosts.js';
import { fingerprintOf, generateKey } from '../support/sshd.js';

const execFileAsync = promisify(execFile);

async function tempDir(t: { after(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'grd-kh-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Three throwaway public keys: [line, blob] each. */
async function keys(dir: string): Promise<{ line: string; blob: Buffer }[]> {
  const lines = await Promise.all([
    generateKey(join(dir, 'k1'), 'ed25519'),
    generateKey(join(dir, 'k2'), 'ecdsa'),
    generateKey(join(dir, 'k3'), 'ed25519'),
  ]);
  return lines.map((line) => ({ line: line.split(' ').slice(0, 2).join(' '), blob: Buffer.from(line.split(' ')[1]!, 'base64') }));
}

test('knownHostsName: port 22 plain, other ports bracketed, alias as is', () => {
  assert.equal(knownHostsName('h.example', 22), 'h.example');
  assert.equal(knownHostsName('h.example', 2222), '[h.example]:2222');
  assert.equal(knownHostsName('h.example', 2222, 'myalias'), 'myalias');
});

test('hostMatches: patterns, wildcards, negation, case', () => {
  const cases: [string, string, boolean][] = [
    ['h.example', 'h.example', true],
    ['H.Example', 'h.example', true],
    ['a,h.example,b', 'h.example', true],
    ['*.example', 'h.example', true],
    ['*.example', '[h.example]:2222', false],
    ['[h.example]:2222', '[h.example]:2222', true],
    ['[*.example]:2222', '[h.example]:2222', true],
    ['h?.example', 'h1.example', true],
    ['h?.example', 'h.example', false],
    ['*.example,!bad.example', 'bad.example', false],
    ['!bad.example,*.example', 'good.example', true],
    ['!bad.example', 'good.example', false],
    ['h.example', 'h.examplex', false],
    ['10.0.0.*', '10.0.0.7', true],
  ];
  for (const [hosts, name, want] of cases) assert.equal(hostMatches(hosts, name), want, `${hosts} vs ${name}`);
});

test('checkHostKey: match, mismatch with fingerprints, revoked, unknown, cert-authority ignored', async (t) => {
  const dir = await tempDir(t);
  const [a, b, c] = await keys(dir);
  const file1 = join(dir, 'kh1');
  const file2 = join(dir, 'kh2');
  await writeFile(
    file1,
    [
      '# comment',
      '',
      `h.example,other ${a!.line} comment here`,
      `[h.example]:2222 ${b!.line}`,
      'garbage line',
      `@cert-authority *.example ${c!.line}`,
      `@revoked * ${c!.line}`,
    ].join('\n'),
  );
  await writeFile(file2, `second.example ${b!.line}\n`);
  const entries = await loadKnownHosts([file1, join(dir, 'missing'), file2]);
  assert.equal(entries.length, 5);
  assert.equal(entries[0]!.line, 3);

  const m = checkHostKey(entries, 'h.example', a!.blob);
  assert.equal(m.status, 'match');
  assert.equal(checkHostKey(entries, 'second.example', b!.blob).status, 'match', 'second file is read');

  const mm = checkHostKey(entries, 'h.example', b!.blob);
  assert.equal(mm.status, 'mismatch');
  assert.deepEqual(mm.status === 'mismatch' && mm.knownFingerprints, [fingerprint(a!.blob)]);
  assert.match(mm.notes.join(), /cert-authority/);

  assert.equal(checkHostKey(entries, '[h.example]:2222', b!.blob).status, 'match');
  assert.equal(checkHostKey(entries, 'nobody.invalid', a!.blob).status, 'unknown');
  assert.equal(checkHostKey(entries, 'anything', c!.blob).status, 'revoked');
  assert.equal(checkHostKey(entries, 'x.example', c!.blob).status, 'revoked', 'revoked beats the CA line');
});

test('fingerprint and key type agree with ssh-keygen', async (t) => {
  const dir = await tempDir(t);
  const line = await generateKey(join(dir, 'k'), 'rsa');
  const blob = Buffer.from(line.split(' ')[1]!, 'base64');
  const { stdout } = await execFileAsync('ssh-keygen', ['-l', '-f', join(dir, 'k.pub')], { encoding: 'utf8' });
  assert.ok(stdout.includes(fingerprint(blob)), stdout);
  assert.equal(fingerprint(blob), fingerprintOf(line));
  assert.equal(keyTypeOf(blob), 'ssh-rsa');
});

test('hashed entries written by ssh-keygen -H are matched', async (t) => {
  const dir = await tempDir(t);
  const [a, b] = await keys(dir);
  const file = join(dir, 'kh');
  await writeFile(file, `h.example ${a!.line}\n[h.example]:2222 ${b!.line}\n`);
  await execFileAsync('ssh-keygen', ['-H', '-f', file]);
  const text = await readFile(file, 'utf8');
  assert.ok(!text.includes('h.example'), 'ssh-keygen hashed the names');
  const entries = parseKnownHosts(text, file);
  assert.equal(checkHostKey(entries, 'h.example', a!.blob).status, 'match');
  assert.equal(checkHostKey(entries, 'H.EXAMPLE', a!.blob).status, 'match');
  assert.equal(checkHostKey(entries, '[h.example]:2222', b!.blob).status, 'match');
  assert.equal(checkHostKey(entries, '[h.example]:2222', a!.blob).status, 'mismatch');
  assert.equal(checkHostKey(entries, 'g.example', a!.blob).status, 'unknown');
});

test('hostKeyAlgorithmsFor narrows to the known key types', async (t) => {
  const dir = await tempDir(t);
  const [a, b] = await keys(dir);
  const rsa = (await generateKey(join(dir, 'r'), 'rsa')).split(' ').slice(0, 2).join(' ');
  const entries = parseKnownHosts(`h1 ${a!.line}\nh2 ${b!.line}\nh2 ${rsa}\n@revoked h3 ${a!.line}\n`, 'x');
  assert.deepEqual(hostKeyAlgorithmsFor(entries, 'h1'), ['ssh-ed25519']);
  assert.deepEqual(hostKeyAlgorithmsFor(entries, 'h2'), ['ecdsa-sha2-nistp256', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
  assert.equal(hostKeyAlgorithmsFor(entries, 'h3'), undefined);
  assert.equal(hostKeyAlgorithmsFor(entries, 'nobody'), undefined);
});

test('addKnownHost creates 0600 file in a 0700 dir; ssh-keygen -F finds plain and hashed lines', async (t) => {
  const dir = await tempDir(t);
  const [a, b] = await keys(dir);
  const file = join(dir, 'new', '.ssh', 'known_hosts');
  await addKnownHost(file, '[h.example]:2222', a!.blob, false);
  await addKnownHost(file, 'hashed.example', b!.blob, true);
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.equal((await stat(join(dir, 'new', '.ssh'))).mode & 0o777, 0o700);
  const text = await readFile(file, 'utf8');
  assert.match(text, /^\[h\.example\]:2222 ssh-ed25519 /m);
  assert.match(text, /^\|1\|[^|]+\|[^ ]+ ecdsa-sha2-nistp256 /m);
  for (const name of ['[h.example]:2222', 'hashed.example']) {
    const { stdout } = await execFileAsync('ssh-keygen', ['-F', name, '-f', file], { encoding: 'utf8' });
    assert.match(stdout, /Host .* found: line \d/, name);
  }
  // Appending to a file without a final newline starts a new line.
  const file2 = join(dir, 'kh2');
  await writeFile(file2, `x ${a!.line}`);
  await addKnownHost(file2, 'y', b!.blob, false);
  assert.equal(parseKnownHosts(await readFile(file2, 'utf8'), file2).length, 2);
});
