// Who may talk to whom: only configured keys get a connection at all (the firewall runs before any
// address is revealed, so no git process starts for anyone else); revoking a key and RELOAD closes
// that peer's link at once; a push is refused; only branches, tags and HEAD are advertised.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fingerprint, keyOf } from '../../workers/p2p/address.js';
import { commit, git } from '../support/git.js';
import { eventually, startDaemon } from '../support/daemon.js';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { gitRun, logged, makePeers, twoPeers } from './support.js';

const fp = (address: string) => fingerprint(keyOf(address)!);

test('a stranger is refused before anything is revealed, and no upload-pack starts for it', async (t) => {
  const p = await makePeers(t);
  const b = p.make('b', { seed: true });
  p.make('a');
  const c = p.make('c'); // knows B, but B does not know C
  p.link('b', 'a');
  p.link('c', 'b');
  const db = startDaemon(b, ['--foreground', '--verbose'], p.env);
  t.after(() => db.stop());
  await logged(db, /peer node up/);
  const fetch = await gitRun(c, p.env, 'fetch', 'b');
  assert.notEqual(fetch.code, 0);
  assert.match(fetch.stderr, /cannot reach peer/);
  await logged(db, new RegExp(`refused a connection from an unknown key \\(fingerprint ${fp(p.address('c'))}\\)`));
  assert.equal(db.stderr.filter((l) => /upload-pack/.test(l)).length, 0, db.stderr.join('\n'));
});

test('revoking a serve-only key and RELOAD closes that link within a second; other links stay', async (t) => {
  const p = await makePeers(t);
  const a = p.make('a', { seed: true });
  const b = p.make('b', { seed: true });
  const c = p.make('c', { seed: true });
  p.link('a', 'b');
  p.link('b', 'a');
  p.link('c', 'a');
  git(a, 'config', '--add', 'remotedaemon.p2p.allow', p.address('c'));
  const da = startDaemon(a, ['--foreground', '--verbose'], p.env);
  const db = startDaemon(b, ['--foreground', '--verbose'], p.env);
  const dc = startDaemon(c, ['--foreground', '--verbose'], p.env);
  t.after(() => Promise.all([da.stop(), db.stop(), dc.stop()]));
  await da.waitFor('CONNECTED b', { timeoutMs: 30_000 });
  await dc.waitFor('CONNECTED a', { timeoutMs: 30_000 });
  await dc.waitFor('DONESYNCING a 1', { timeoutMs: 20_000 });
  git(a, 'config', '--unset-all', 'remotedaemon.p2p.allow');
  const from = dc.lines.length;
  const fromA = da.lines.length;
  const sent = Date.now();
  da.send('RELOAD');
  await dc.waitFor('DISCONNECTED a', { from, timeoutMs: 5000 });
  const took = Date.now() - sent;
  assert.ok(took < 1000, `the revoked link closed after ${took} ms`);
  await logged(da, /no longer allowed/);
  // Only what the RELOAD did counts: a link that dropped under load before it is not the revocation's doing.
  assert.ok(!da.lines.slice(fromA).includes('DISCONNECTED b'), `the link to B stays up:\n${da.lines.join('\n')}`);
  const closed = da.stderr.filter((l) => /no longer allowed/.test(l));
  assert.ok(closed.every((l) => l.includes(fp(p.address('c')))), `only C's link is closed:\n${closed.join('\n')}`);
});

test('git push to a peer is refused with a clear message; only branches, tags and HEAD are advertised', async (t) => {
  const p = await makePeers(t);
  const a = p.make('a', { seed: true });
  const b = p.make('b', { seed: true });
  git(b, 'tag', 'v1');
  git(b, 'update-ref', 'refs/private/secret', 'HEAD');
  git(b, 'update-ref', 'refs/remotes/origin/main', 'HEAD');
  git(b, 'notes', 'add', '-m', 'hidden note');
  p.link('a', 'b');
  p.link('b', 'a');
  const db = startDaemon(b, ['--foreground', '--verbose'], p.env);
  t.after(() => db.stop());
  await logged(db, /peer node up/);
  const listed = await gitRun(a, p.env, 'ls-remote', 'b');
  assert.equal(listed.code, 0, listed.stderr);
  const refs = listed.stdout.trim().split('\n').map((l) => l.split('\t')[1]).sort();
  assert.deepEqual(refs, ['HEAD', 'refs/heads/main', 'refs/tags/v1']);
  commit(a, 'on a');
  const push = await gitRun(a, p.env, 'push', 'b', 'main');
  assert.notEqual(push.code, 0);
  assert.match(push.stderr, /peers are read-only: git-receive-pack is refused/);
  assert.equal(db.stderr.filter((l) => /receive-pack/.test(l)).length, 0);
});

test('at most 4 git sessions per peer at once: a fifth is refused with a reason while four are open', async (t) => {
  const { p, a, b, da, db } = await twoPeers(t);
  const served = () => db.stderr.filter((l) => /serving git-upload-pack/.test(l)).length;
  const before = served();
  // Sessions through A's node that never ask for anything: upload-pack on B waits on each.
  const socket = join(a, '.git', 'remote-daemon', 'p2p.sock');
  const open = () =>
    new Promise<{ socket: Socket; answer: Promise<string> }>((resolve) => {
      const s = connect(socket, () => s.write(`${JSON.stringify({ peer: keyOf(p.address('b')), v2: true })}\n`));
      let text = '';
      const answer = new Promise<string>((done) => {
        s.on('data', (d: Buffer) => (text += d.toString()));
        s.on('end', () => done(text));
      });
      t.after(() => s.destroy());
      s.once('data', () => resolve({ socket: s, answer }));
    });
  for (let i = 0; i < 4; i++) await open();
  await eventually(() => served() === before + 4, 'four sessions are served');
  const fifth = await open();
  await fifth.answer; // B refused it: the session ended at once
  await logged(da, /git session to .* failed: too many git sessions at once \(at most 4 per peer\)/);
  assert.equal(served(), before + 4);
});
