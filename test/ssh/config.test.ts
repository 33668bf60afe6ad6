// ssh URL parsing, the user's ssh command (its words are split by src/kit/shell.ts), and `ssh -G` resolution.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { hostname, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import {
  expandPath,
  parseSshCommand,
  parseSshUrl,
  resolveSshSettings,
  settingsFromSshG,
  SshCommandError,
  tokenValues,
} from '../../workers/ssh/config.js';

test('parseSshUrl: git ssh URL forms', () => {
  const cases: [string, ReturnType<typeof parseSshUrl>][] = [
    ['ssh://host/srv/repo.git', { host: 'host', path: '/srv/repo.git' }],
    ['ssh://alice@host:2222/srv/repo.git', { user: 'alice', host: 'host', port: 2222, path: '/srv/repo.git' }],
    ['git+ssh://host/r', { host: 'host', path: '/r' }],
    ['ssh+git://bob@host/r', { user: 'bob', host: 'host', path: '/r' }],
    ['SSH://host/r', { host: 'host', path: '/r' }],
    ['ssh://host/~/repo', { host: 'host', path: '~/repo' }],
    ['ssh://host/~alice/repo', { host: 'host', path: '~alice/repo' }],
    ['ssh://host:22/a%20b', { host: 'host', port: 22, path: '/a b' }],
    ['ssh://[::1]:2222/r', { host: '::1', port: 2222, path: '/r' }],
    ['ssh://u@[fe80::1]/r', { user: 'u', host: 'fe80::1', path: '/r' }],
    ['ssh://u@x@host/r', { user: 'u@x', host: 'host', path: '/r' }],
    ['host:repo.git', { host: 'host', path: 'repo.git' }],
    ['alice@host:/srv/r.git', { user: 'alice', host: 'host', path: '/srv/r.git' }],
    ['host:~/r', { host: 'host', path: '~/r' }],
    ['host:~bob/r', { host: 'host', path: '~bob/r' }],
    ['host:/~/r', { host: 'host', path: '~/r' }],
    ['[::1]:r', { host: '::1', path: 'r' }],
    ['u@[::1]:/r', { user: 'u', host: '::1', path: '/r' }],
    ['host:2222/r', { host: 'host', path: '2222/r' }], // scp form has no port: git reads a path
    // not ssh
    ['/srv/repo.git', undefined],
    ['./a:b', undefined],
    ['dir/host:path', undefined],
    ['https://host/r', undefined],
    ['file:///r', undefined],
    ['ssh://host', undefined],
    ['ssh://host:99999/r', undefined],
    ['ssh://host:x/r', undefined],
    ['host:', undefined],
    ['@host:r', undefined],
    ['ssh::host:r', undefined], // git-remote-ssh, a remote helper
    ['ext::ssh host:r', undefined],
  ];
  for (const [url, expected] of cases) assert.deepEqual(parseSshUrl(url), expected, url);
});

test('parseSshCommand: options kept for ssh -G, mode options dropped', () => {
  assert.deepEqual(parseSshCommand(undefined), { program: 'ssh', options: [], ignored: [] });
  assert.deepEqual(parseSshCommand('ssh -F cfg -i key -p 2222 -o X=Y -l user -4 -v -T'), {
    program: 'ssh',
    options: ['-F', 'cfg', '-i', 'key', '-p', '2222', '-o', 'X=Y', '-l', 'user', '-4'],
    ignored: [],
  });
  assert.deepEqual(parseSshCommand('/usr/bin/ssh -ikey -p2222 -4A -E log').options, ['-i', 'key', '-p', '2222', '-4', '-A']);
  assert.equal(parseSshCommand('/usr/bin/ssh').program, '/usr/bin/ssh');
  const plink = parseSshCommand('plink -P 22');
  assert.equal(plink.program, 'ssh');
  assert.match(plink.ignored[0]!, /plink/);
  assert.throws(() => parseSshCommand('ssh -Z'), SshCommandError);
  assert.throws(() => parseSshCommand('ssh -i'), SshCommandError);
  assert.throws(() => parseSshCommand('ssh; id'), (err: Error) => err instanceof SshCommandError && /^ssh command needs a shell \(;\)/.test(err.message));
});

test('token and tilde expansion follow ssh_config(5)', () => {
  const t = tokenValues({ originalHost: 'alias', hostname: 'h.example', port: 2222, user: 'bob' });
  const me = userInfo();
  assert.equal(expandPath('~/.ssh/id_%r@%h:%p', t), `${me.homedir}/.ssh/id_bob@h.example:2222`);
  assert.equal(expandPath('%d/%u/%l/%L/%n/%k/%i/%%', t), `${me.homedir}/${me.username}/${hostname()}/${hostname().split('.')[0]}/alias/alias/${me.uid}/%`);
  assert.equal(t.C, createHash('sha1').update(`${hostname()}h.example2222bob`).digest('hex'));
  assert.throws(() => expandPath('%z', t), SshCommandError);
});

test('settingsFromSshG: defaults, strict checking values, unsupported settings', () => {
  const base = 'hostname 10.0.0.1\nport 22\nuser u\nstricthostkeychecking ask\nserveraliveinterval 0\nserveralivecountmax 3\nconnecttimeout none\nidentityagent none\n';
  const s = settingsFromSshG(base, 'h', {});
  assert.equal(s.strictHostKeyChecking, 'yes');
  assert.equal(s.serverAliveInterval, 16, 'no interval set: ours');
  assert.equal(s.keepaliveAnswerSeconds, 3, "ssh -G's CountMax 3 is ssh's default, not a choice");
  assert.equal(s.connectTimeout, undefined);
  assert.equal(s.identityAgent, undefined);
  assert.deepEqual(s.unsupported, []);
  assert.equal(settingsFromSshG('batchmode yes\nserveraliveinterval 300\n', 'h', {}).serverAliveInterval, 16, "BatchMode's implicit 300 s");
  assert.equal(settingsFromSshG('batchmode no\nserveraliveinterval 300\n', 'h', {}).serverAliveInterval, 300);
  for (const [raw, want] of [['true', 'yes'], ['false', 'no'], ['accept-new', 'accept-new'], ['ask', 'yes']] as const) {
    assert.equal(settingsFromSshG(`stricthostkeychecking ${raw}\n`, 'h', {}).strictHostKeyChecking, want);
  }
  const odd = settingsFromSshG(
    'proxycommand nc %h %p\ncertificatefile /c/cert.pub\npkcs11provider /x.so\nserveraliveinterval 7\nserveralivecountmax 2\nconnecttimeout 9\nproxyjump j@jump:23\nhostkeyalias alias\nhashknownhosts yes\n',
    'h',
    { SSH_AUTH_SOCK: '/tmp/agent.sock' },
  );
  assert.deepEqual(odd.unsupported, ['proxycommand nc %h %p', 'certificatefile /c/cert.pub', 'pkcs11provider /x.so']);
  assert.equal(odd.serverAliveInterval, 7);
  assert.equal(odd.serverAliveCountMax, 2);
  assert.equal(odd.keepaliveAnswerSeconds, 7, 'OpenSSH gives up after interval x count: 7 s to answer after 7 s of silence');
  assert.equal(odd.connectTimeout, 9);
  assert.equal(odd.proxyJump, 'j@jump:23');
  assert.equal(odd.hostKeyAlias, 'alias');
  assert.equal(odd.hashKnownHosts, true);
  assert.equal(odd.identityAgent, '/tmp/agent.sock', 'SSH_AUTH_SOCK when IdentityAgent is unset');
});

test('resolveSshSettings runs ssh -G with a real -F config and the user command options', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'grd-sshcfg-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const keyA = join(dir, 'id_bob_real.example_2222');
  const keyB = join(dir, 'explicit_key');
  await writeFile(keyA, 'x');
  await writeFile(keyB, 'x');
  const cfg = join(dir, 'my config');
  await writeFile(
    cfg,
    [
      'Host myalias',
      '  HostName real.example',
      '  Port 2200',
      '  User carol',
      `  IdentityFile ${dir}/id_%r_%h_%p`,
      `  IdentityFile ${dir}/missing_%h`,
      `  UserKnownHostsFile ${dir}/kh_%h ${dir}/kh2`,
      '  GlobalKnownHostsFile none',
      '  StrictHostKeyChecking accept-new',
      '  ServerAliveInterval 4',
      '  ConnectTimeout 6',
      '  ProxyJump jumper@jump.example:2022',
      '  IdentitiesOnly yes',
      '  IdentityAgent none',
      'Host proxied',
      '  ProxyCommand nc %h %p',
      '',
    ].join('\n'),
  );
  const sshCommand = `ssh -F '${cfg}' -i ${keyB} -o ServerAliveCountMax=5`;
  // URL user and port win over the config, as with git (`-p port user@host` after the options).
  const s = await resolveSshSettings({ user: 'bob', host: 'myalias', port: 2222 }, { sshCommand });
  assert.equal(s.originalHost, 'myalias');
  assert.equal(s.hostname, 'real.example');
  assert.equal(s.port, 2222);
  assert.equal(s.user, 'bob');
  assert.deepEqual(s.identityFiles, [keyB, keyA], 'command-line -i first, tokens expanded, missing dropped');
  assert.equal(s.identitiesOnly, true);
  assert.equal(s.identityAgent, undefined);
  assert.deepEqual(s.userKnownHostsFiles, [`${dir}/kh_real.example`, `${dir}/kh2`]);
  assert.deepEqual(s.globalKnownHostsFiles, []);
  assert.equal(s.strictHostKeyChecking, 'accept-new');
  assert.equal(s.serverAliveInterval, 4);
  assert.equal(s.serverAliveCountMax, 5);
  assert.equal(s.keepaliveAnswerSeconds, 16);
  assert.equal(s.connectTimeout, 6);
  assert.equal(s.proxyJump, 'jumper@jump.example:2022');
  assert.deepEqual(s.unsupported, []);

  const plain = await resolveSshSettings({ host: 'myalias' }, { sshCommand });
  assert.equal(plain.port, 2200);
  assert.equal(plain.user, 'carol');

  const proxied = await resolveSshSettings({ host: 'proxied' }, { sshCommand: `ssh -F '${cfg}'` });
  assert.deepEqual(proxied.unsupported, ['proxycommand nc %h %p']);
  assert.equal(proxied.strictHostKeyChecking, 'yes', 'ask becomes yes');

  // The %C token is ssh's own hash.
  const cfgC = join(dir, 'c');
  const keyC = join(dir, `key_${tokenValues({ originalHost: 'x', hostname: 'x', port: 22, user: 'u' }).C}`);
  await writeFile(keyC, 'x');
  await writeFile(cfgC, `Host x\n  IdentityFile ${dir}/key_%C\n`);
  assert.deepEqual((await resolveSshSettings({ user: 'u', host: 'x' }, { sshCommand: `ssh -F ${cfgC}` })).identityFiles, [keyC]);

  await assert.rejects(resolveSshSettings({ host: '-oProxyCommand=x' }), SshCommandError);
  await assert.rejects(resolveSshSettings({ host: 'h' }, { sshCommand: 'ssh -F /nonexistent/cfg' }), /ssh -G h failed/);
});
