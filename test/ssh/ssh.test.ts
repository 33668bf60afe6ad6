// The ssh transport end to end against a real sshd: notifier READY -> connected, a push -> CHANGED
// with the new sha, fetches through the held connection, a killed session, a missing / garbled /
// endless notifier, git-annex-shell as the notifier, nothing left on the server after close().

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gitEnv, push } from './fixture.js';
import { connect, fixture, localProcesses, Recorder, serverProcesses, sshFor, waitFor } from './support.js';

function runGit(cwd: string, env: Record<string, string>, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { cwd, env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stderr }));
  });
}

test('READY connects, a push reaches changed(), a fetch uses the held connection, close leaves nothing on the server', async (t) => {
  const fx = await fixture(t);
  const { connection, events } = await connect(t, fx);
  assert.deepEqual(events.warnings, []);
  assert.ok((await serverProcesses(`notifychanges.*${fx.remotePath}`)).length > 0, 'the notifier runs on the server');

  const refs = await connection.listRefs();
  assert.equal(refs.get('refs/heads/main'), gitEnv(fx.pusher, {}, 'rev-parse', 'HEAD'));

  const sha = push(fx);
  await waitFor('CHANGED with the pushed sha', () => events.seen().has(sha));
  assert.equal(events.changes.at(-1)!.kind, 'shas');

  const before = await fx.sshd.authenticatedCount();
  const fetched = await runGit(fx.local, (await connection.fetchPlan()).env!, ['fetch', 'origin']);
  assert.equal(fetched.code, 0, fetched.stderr);
  assert.equal(gitEnv(fx.local, {}, 'rev-parse', 'refs/remotes/origin/main'), sha);
  assert.equal(await fx.sshd.authenticatedCount(), before, 'no new ssh connection for the fetch');

  const tunnelDir = ((await connection.fetchPlan()).env!).GIT_REMOTE_DAEMON_TUNNEL!;
  await connection.close();
  await connection.done; // resolves after close()
  await waitFor('no notifychanges left on the server', async () => (await serverProcesses(`notifychanges.*${fx.remotePath}`)).length === 0, 5_000);
  assert.equal(existsSync(tunnelDir), false, 'the tunnel directory is removed');
});

test('a server session killed mid-fetch fails the fetch and ends the connection', async (t) => {
  // A git-upload-pack on the server that stalls while the marker file exists.
  const marker = mkdtempSync(join(tmpdir(), 'grd-slow-'));
  chmodSync(marker, 0o777);
  t.after(() => rmSync(marker, { recursive: true, force: true }));
  const shim = `#!/bin/sh\nif [ -e ${marker}/stall ]; then : > ${marker}/started; sleep 60; fi\nexec /usr/bin/git-upload-pack "$@"\n`;
  const fx = await fixture(t, { serverBin: { gitRemoteDaemon: true, shims: { 'git-upload-pack': shim } } });
  // Stalled from the start, so the standby upload-pack the tunnel keeps stalls as well.
  writeFileSync(join(marker, 'stall'), '');
  const { connection } = await connect(t, fx);
  push(fx);
  const env = (await connection.fetchPlan()).env!;
  const fetch = runGit(fx.local, env, ['fetch', 'origin']);
  await waitFor('the fetch to be relayed', () => existsSync(join(marker, 'started')));
  await waitFor('the fetch to reach the tunnel', async () => (await localProcesses(`UNIX-CONNECT:${env.GIT_REMOTE_DAEMON_TUNNEL}`)).length > 0);
  await fx.sshd.dropConnections();
  const result = await fetch;
  assert.notEqual(result.code, 0, 'the fetch failed');
  await assert.rejects(connection.done);
});

test('no notifier on the server: one warning, then polling notices a push', async (t) => {
  const fx = await fixture(t);
  const { connection, events } = await connect(t, fx, { notifier: 'grd-no-such-notifier notifychanges', pollIntervalSeconds: 0.2 });
  assert.equal(events.warnings.length, 1);
  assert.match(events.warnings[0]!, /no notifier.*127.*remotedaemon-notifier/s);
  const sha = push(fx);
  await waitFor('a polled change', () => events.seen().has(sha));
  const change = events.changes.at(-1)!;
  assert.equal(change.kind, 'refs');
  assert.equal(change.kind === 'refs' && change.refs.get('refs/heads/main'), sha);
  assert.equal(events.warnings.length, 1, 'still one warning');
  await connection.close();
});

test('garbage from the notifier: a warning, and polling when it never says READY', async (t) => {
  const fx = await fixture(t, {
    serverBin: {
      shims: {
        'chatty-notifier': '#!/bin/sh\necho "Welcome to the server"\nexec cat >/dev/null\n',
        'sloppy-notifier': '#!/bin/sh\necho READY\necho "bogus line"\nexec cat >/dev/null\n',
      },
    },
  });
  const chatty = await connect(t, fx, { notifier: 'chatty-notifier', pollIntervalSeconds: 0.2 });
  assert.equal(chatty.events.warnings.length, 1);
  assert.match(chatty.events.warnings[0]!, /Welcome to the server/);
  const sha = push(fx);
  await waitFor('a polled change', () => chatty.events.seen().has(sha));

  const sloppy = await connect(t, fx, { notifier: 'sloppy-notifier' });
  await waitFor('a warning about the bogus line', () => sloppy.events.warnings.length > 0);
  assert.match(sloppy.events.warnings[0]!, /bogus line/);
});

test('interop: git-annex-shell notifychanges as the notifier', async (t) => {
  const fx = await fixture(t);
  await fx.sshd.runAsUser(['git', '-C', fx.remotePath, 'annex', 'init', '-q', 'server'], { env: { GIT_AUTHOR_NAME: 'T', GIT_AUTHOR_EMAIL: 't@e.invalid', GIT_COMMITTER_NAME: 'T', GIT_COMMITTER_EMAIL: 't@e.invalid' } });
  const { connection, events } = await connect(t, fx, { notifier: 'git-annex-shell notifychanges' });
  assert.deepEqual(events.warnings, []);
  const sha = push(fx);
  await waitFor('CHANGED from git-annex-shell', () => events.seen().has(sha));
  await connection.close();
  await waitFor('no git-annex-shell left on the server', async () => (await serverProcesses(`git-annex-shell notifychanges.*${fx.remotePath}`)).length === 0, 5_000);
});

test('an unknown host key is NeedsUser, not a retry', async (t) => {
  const fx = await fixture(t, {});
  const events = new Recorder();
  const transport = sshFor(fx, { sshCommand: fx.sshd.sshCommand.replace(/UserKnownHostsFile=\S+/, 'UserKnownHostsFile=/dev/null') });
  await assert.rejects(transport.connect(events, new AbortController().signal), (err: Error) => err.name === 'NeedsUser' && /host key|unknown/i.test(err.message));
});

test('an abort while waiting for READY gives up promptly and leaves nothing running', async (t) => {
  const fx = await fixture(t, { serverBin: { shims: { 'silent-notifier': '#!/bin/sh\nexec cat >/dev/null\n' } } });
  const events = new Recorder();
  const transport = sshFor(fx, { notifier: 'silent-notifier' });
  const abort = new AbortController();
  const connecting = transport.connect(events, abort.signal);
  await waitFor('the notifier to start', async () => (await serverProcesses(`silent-notifier`)).length > 0);
  const started = Date.now();
  abort.abort(new Error('stopped'));
  await assert.rejects(connecting, /stopped/);
  assert.ok(Date.now() - started < 2000, 'gave up within 2 s');
  assert.deepEqual(events.warnings, []);
  await waitFor('the notifier to be gone', async () => (await serverProcesses(`silent-notifier`)).length === 0, 5_000);
});

test('a repository missing on the server fails the connect with git\'s reason, not a no-notifier warning', async (t) => {
  const fx = await fixture(t);
  const events = new Recorder();
  const transport = sshFor(fx, { url: fx.sshd.url(`${fx.remotePath}-missing`) });
  await assert.rejects(transport.connect(events, new AbortController().signal), /does not appear to be a git repository|not a git repository|No such/i);
  assert.deepEqual(events.warnings, []);
});
