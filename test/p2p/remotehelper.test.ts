// The full git-remote-p2p (workers/p2p/remotehelper.ts), run as git runs it: as a process,
// `bin/git-remote-p2p <remote> <url>` with git's commands on stdin, or by a real `git fetch` /
// `git ls-remote` with bin/ first on PATH. No DHT: the peer node is played by a unix socket server
// here (the protocol of workers/p2p/helpersocket.ts: one JSON line, answered `ok` and then the
// socket is the session, or `error <why>`), and a session by a real `git upload-pack` piped to it.
//
// Every repository here has a key file others can read, which the helper refuses: a helper that
// wrongly falls through to connecting on its own ends there with that complaint, at once, and
// never opens a DHT node. The tests that mean to fall through use exactly that.
//
// End to end through real peers: orphans.test.ts, clone.test.ts, fsck.test.ts (a corrupt commit,
// loose and packed, and fetch.fsck.<msg-id>); the check itself: received.test.ts.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { appendFileSync, chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { addressOf, fingerprint } from '../../workers/p2p/address.js';
import { NOT_A_PEER, socketPath } from '../../workers/p2p/nodeapi.js';
import { commit, git, refValue, tempDir } from '../support/git.js';

const HELPER = fileURLToPath(new URL('../../../bin/git-remote-p2p', import.meta.url));
const BIN = dirname(HELPER);
const KEY = 'ab'.repeat(32);
const URL_ = `p2p://${KEY}`;
const FP = fingerprint(KEY);
/** How long any one helper or git may run before it is taken for hung and killed. */
const HUNG_MS = 15_000;

interface Setup {
  dir: string;
  /** The repository the helper runs in (git's cwd). */
  repo: string;
  /** The node's socket (GRD_P2P_SOCKET). */
  socket: string;
  env: NodeJS.ProcessEnv;
}

function setup(t: TestContext): Setup {
  const d = tempDir('grd-remotehelper-');
  t.after(d.cleanup);
  const repo = join(d.path, 'repo');
  git(d.path, 'init', '-q', '-b', 'main', repo);
  const keyDir = join(repo, '.git', 'remote-daemon');
  mkdirSync(keyDir, { mode: 0o700 });
  writeFileSync(join(keyDir, 'p2p-key'), `# a test key others can read: refused\n${'cd'.repeat(32)}\n`);
  chmodSync(join(keyDir, 'p2p-key'), 0o644);
  const socket = join(d.path, 'p2p.sock');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    GRD_P2P_SOCKET: socket,
    PATH: `${BIN}:${process.env.PATH}`,
  };
  for (const name of ['GIT_DIR', 'GIT_OBJECT_DIRECTORY', 'GIT_CONFIG_PARAMETERS', 'GRD_P2P_TIMING']) delete env[name];
  return { dir: d.path, repo, socket, env };
}

/** What the node did with one connection. */
interface NodeConnection {
  request: string;
  socket: Socket;
  /** Everything the helper sent after its request line. */
  received: Buffer[];
  ended: boolean;
  closed: boolean;
}

interface FakeNode {
  connections: NodeConnection[];
  /** Resolves with the next connection's request (once its line is in). */
  nextRequest(): Promise<NodeConnection>;
}

/**
 * A peer node at `path`: reads the request line and hands the connection to `answer`, which
 * writes what the node says (and may keep the socket as the session).
 */
async function fakeNode(t: TestContext, path: string, answer: (c: NodeConnection) => void): Promise<FakeNode> {
  const connections: NodeConnection[] = [];
  const waiting: ((c: NodeConnection) => void)[] = [];
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => {});
    let header = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      header = Buffer.concat([header, chunk]);
      const nl = header.indexOf(10);
      if (nl < 0) return;
      socket.off('data', onData);
      const c: NodeConnection = { request: header.subarray(0, nl).toString('utf8'), socket, received: [], ended: false, closed: false };
      const rest = header.subarray(nl + 1);
      if (rest.length) c.received.push(rest);
      socket.on('data', (d: Buffer) => c.received.push(d));
      socket.on('end', () => (c.ended = true));
      socket.on('close', () => (c.closed = true));
      connections.push(c);
      waiting.shift()?.(c);
      answer(c);
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  t.after(() => {
    for (const c of connections) c.socket.destroy();
    server.close();
  });
  return {
    connections,
    nextRequest: () => new Promise((resolve) => waiting.push(resolve)),
  };
}

/**
 * A node that answers a session with a real `git upload-pack` of `served` (as the peer would run
 * it). With `packInOnePiece`, what upload-pack says from the "packfile" section header to the flush
 * that ends it reaches the helper in one write, as a peer may send it.
 */
function servingNode(t: TestContext, path: string, served: string, env: NodeJS.ProcessEnv, { packInOnePiece = false } = {}): Promise<FakeNode> {
  return fakeNode(t, path, (c) => {
    c.socket.write('ok\n');
    const uploadPack = spawn('git', ['upload-pack', served], { env: { ...env, GIT_PROTOCOL: 'version=2' }, stdio: ['pipe', 'pipe', 'ignore'] });
    t.after(() => uploadPack.kill('SIGKILL'));
    uploadPack.stdin.on('error', () => {});
    for (const chunk of c.received) uploadPack.stdin.write(chunk);
    c.socket.on('data', (d: Buffer) => uploadPack.stdin.write(d));
    c.socket.on('end', () => uploadPack.stdin.end());
    if (!packInOnePiece) {
      uploadPack.stdout.pipe(c.socket);
      return;
    }
    // pkt-lines: 4 hex digits of length (header included), 0000-0002 special and header-only
    let held = Buffer.alloc(0);
    let parsed = 0;
    let inPack = false;
    uploadPack.stdout.on('data', (d: Buffer) => {
      held = Buffer.concat([held, d]);
      while (held.length - parsed >= 4) {
        const length = parseInt(held.subarray(parsed, parsed + 4).toString('latin1'), 16);
        const size = length < 4 ? 4 : length;
        if (held.length - parsed < size) break;
        if (held.subarray(parsed + 4, parsed + size).toString('latin1') === 'packfile\n') inPack = true;
        else if (length === 0) inPack = false;
        parsed += size;
      }
      if (inPack) return;
      c.socket.write(held.subarray(0, parsed));
      held = held.subarray(parsed);
      parsed = 0;
    });
    uploadPack.stdout.on('end', () => c.socket.end(held));
  });
}

interface Helper {
  child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** Resolves once git's end of our stdout has been read to its end. */
  stdoutEnded: Promise<void>;
  /** Resolves when the helper has exited and its output is all in; a hung one is killed. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
}

/** The helper as git runs it: `git-remote-p2p <remote> <url>`, `input` on stdin, ended when `end`. */
function runHelper(t: TestContext, s: Setup, input: string | Buffer, { end = true, args = ['peer', URL_], env = s.env }: { end?: boolean; args?: string[]; env?: NodeJS.ProcessEnv } = {}): Helper {
  const started = Date.now();
  const child = spawn(process.execPath, [HELPER, ...args], { cwd: s.repo, env });
  t.after(() => child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('latin1').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin.on('error', () => {}); // a helper that left before reading all of it
  if (end) child.stdin.end(input);
  else child.stdin.write(input);
  const hung = setTimeout(() => child.kill('SIGKILL'), HUNG_MS);
  const done = once(child, 'close').then(([code, signal]) => {
    clearTimeout(hung);
    return { code: code as number | null, signal: signal as NodeJS.Signals | null, ms: Date.now() - started };
  });
  return { child, stdout: () => stdout, stderr: () => stderr, stdoutEnded: once(child.stdout, 'end').then(() => undefined), done };
}

/** A real git in `s.repo`, the helper found on PATH as git finds it. */
async function runGit(t: TestContext, s: Setup, ...args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  const child = spawn('git', args, { cwd: s.repo, env: s.env, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const hung = setTimeout(() => child.kill('SIGKILL'), HUNG_MS);
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  clearTimeout(hung);
  return { code, signal, stdout, stderr };
}

test('capabilities is answered with connect; an empty line or the end of stdin ends the helper; the node is not asked', async (t) => {
  const s = setup(t);
  const node = await fakeNode(t, s.socket, (c) => c.socket.end('error unexpected\n'));
  const [both, eof, oneArg, zbase] = [
    runHelper(t, s, 'capabilities\n\n'),
    runHelper(t, s, ''),
    // git passes the URL alone when there is no remote name (it is then both)
    runHelper(t, s, 'capabilities\n', { args: [URL_] }),
    runHelper(t, s, 'capabilities\n', { args: ['peer', addressOf(KEY)] }),
  ];
  for (const [h, out] of [[both, 'connect\n\n'], [eof, ''], [oneArg, 'connect\n\n'], [zbase, 'connect\n\n']] as const) {
    const { code } = await h.done;
    assert.equal(code, 0, h.stderr());
    assert.equal(h.stdout(), out);
    assert.equal(h.stderr(), '');
  }
  assert.equal(node.connections.length, 0);
});

test('a push, or any service but upload-pack, is refused before anything is sent', async (t) => {
  const s = setup(t);
  const node = await fakeNode(t, s.socket, (c) => c.socket.end('ok\n'));
  // git has nothing more to say before our answer; bytes after the line must not go anywhere either
  const push = runHelper(t, s, 'capabilities\nconnect git-receive-pack\n0000', { end: false });
  const archive = runHelper(t, s, 'connect git-upload-archive\n');
  assert.equal((await push.done).code, 128);
  assert.equal(push.stdout(), 'connect\n\n');
  assert.equal(push.stderr(), `git-remote-p2p: peers are read-only: git-receive-pack is refused (${FP} fetches from you when it has this repository as a remote)\n`);
  assert.equal((await archive.done).code, 128);
  assert.equal(archive.stdout(), '');
  assert.match(archive.stderr(), /^git-remote-p2p: peers are read-only: git-upload-archive is refused /);
  assert.equal(node.connections.length, 0, 'the node was never asked');
});

test('a URL that names no peer is refused before git is answered', async (t) => {
  const s = setup(t);
  const node = await fakeNode(t, s.socket, (c) => c.socket.end('ok\n'));
  const urls = ['https://example.com/repo.git', `p2p://${KEY.slice(2)}`, 'p2p://', `p2p://${KEY}/repo`];
  const runs = urls.map((url) => runHelper(t, s, 'capabilities\nconnect git-upload-pack\n', { args: ['peer', url] }));
  for (const [i, h] of runs.entries()) {
    assert.equal((await h.done).code, 128, urls[i]);
    assert.equal(h.stdout(), '', urls[i]);
    assert.equal(h.stderr(), `git-remote-p2p: ${urls[i]} is not a peer address (p2p:// and a key)\n`);
  }
  assert.equal(node.connections.length, 0);
});

test('an unsupported command is refused, quoted and cut short; a command line past 4 KiB is refused without waiting for its end', async (t) => {
  const s = setup(t);
  const node = await fakeNode(t, s.socket, (c) => c.socket.end('ok\n'));
  const list = runHelper(t, s, 'capabilities\nlist\n');
  const long = runHelper(t, s, `${'y'.repeat(300)}\n`);
  const longest = runHelper(t, s, `${'x'.repeat(4097)}\n`);
  const overLong = runHelper(t, s, `${'x'.repeat(4098)}\n`);
  // git never ends it: refused once it is too long, not when (if ever) the line ends
  const endless = runHelper(t, s, 'z'.repeat(20_000), { end: false });
  assert.equal((await list.done).code, 128);
  assert.equal(list.stdout(), 'connect\n\n');
  assert.equal(list.stderr(), 'git-remote-p2p: unsupported command from git: "list"\n');
  assert.equal((await long.done).code, 128);
  assert.equal(long.stderr(), `git-remote-p2p: unsupported command from git: "${'y'.repeat(100)}"\n`);
  assert.equal((await longest.done).code, 128);
  assert.match(longest.stderr(), /unsupported command from git: "x{100}"\n$/, '4097 bytes are still a command');
  for (const h of [overLong, endless]) {
    const { code, signal } = await h.done;
    assert.equal(signal, null, 'not killed as hung');
    assert.equal(code, 128);
    assert.equal(h.stderr(), 'git-remote-p2p: over-long command from git\n');
    assert.equal(h.stdout(), '');
  }
  assert.equal(node.connections.length, 0);
});

test('remotedaemon.p2p.connectTimeout: a value that is not 0 < s <= 3600 is a clear error before the node is asked; the last value counts', async (t) => {
  const s = setup(t);
  const node = await fakeNode(t, s.socket, (c) => c.socket.end('error the node was asked\n'));
  const bad = ['abc', '0', '-5', '3601', '', 'Infinity', '10s'];
  const runs = bad.map((value) => {
    const d = setup(t);
    // written as it is: `git config` would take -5 for an option
    appendFileSync(join(d.repo, '.git', 'config'), `[remotedaemon "p2p"]\n\tconnectTimeout = ${JSON.stringify(value)}\n`);
    // stdin stays open, as git keeps it while it waits for the answer to connect
    return runHelper(t, { ...d, env: s.env }, 'capabilities\nconnect git-upload-pack\n', { end: false });
  });
  for (const [i, h] of runs.entries()) {
    assert.equal((await h.done).code, 128, bad[i]);
    assert.equal(h.stdout(), 'connect\n\n');
    assert.equal(h.stderr(), `git-remote-p2p: remotedaemon.p2p.connectTimeout: ${JSON.stringify(bad[i])} is not a number of seconds (0 < s <= 3600)\n`);
  }
  assert.equal(node.connections.length, 0, 'refused before the node was asked');

  git(s.repo, 'config', 'remotedaemon.p2p.connectTimeout', 'abc');
  git(s.repo, 'config', '--add', 'remotedaemon.p2p.connectTimeout', '3600');
  const last = runHelper(t, s, 'capabilities\nconnect git-upload-pack\n', { end: false });
  assert.equal((await last.done).code, 128);
  assert.equal(last.stderr(), `git-remote-p2p: cannot reach peer ${FP}: the node was asked\n`, 'a good last value is taken');
});

test('a node that does not answer within remotedaemon.p2p.connectTimeout: the helper gives up, and says why', async (t) => {
  const s = setup(t);
  const node = await fakeNode(t, s.socket, () => {}); // hears the request, says nothing
  git(s.repo, 'config', 'remotedaemon.p2p.connectTimeout', '0.3');
  const h = runHelper(t, s, 'capabilities\nconnect git-upload-pack\n', { end: false });
  const { code, ms } = await h.done;
  assert.equal(code, 128);
  assert.equal(h.stderr(), `git-remote-p2p: no session with peer ${FP} within 0.3 s (remotedaemon.p2p.connectTimeout)\n`);
  assert.equal(h.stdout(), 'connect\n\n', 'no empty line: git was never told a session opened');
  assert.ok(ms >= 300, `gave up after ${ms} ms`);
  assert.deepEqual(JSON.parse(node.connections[0].request), { peer: KEY, v2: true });
});

test('the node\'s "error <why>" is relayed as one line; a node that closes without a whole answer is an error too', async (t) => {
  const s = setup(t);
  const answers = ['error the peer is not linked right now\n', '', 'ok'];
  let asked = 0;
  const node = await fakeNode(t, s.socket, (c) => c.socket.end(answers[asked++]));
  const said: string[] = [];
  for (let i = 0; i < answers.length; i++) {
    const h = runHelper(t, s, 'capabilities\nconnect git-upload-pack\n', { end: false });
    assert.equal((await h.done).code, 128);
    assert.equal(h.stdout(), 'connect\n\n');
    said.push(h.stderr());
  }
  assert.deepEqual(said, [
    `git-remote-p2p: cannot reach peer ${FP}: the peer is not linked right now\n`,
    `git-remote-p2p: cannot reach peer ${FP}: the daemon's peer node closed the request without an answer\n`,
    `git-remote-p2p: cannot reach peer ${FP}: the daemon's peer node closed the request without an answer\n`,
  ]);
  assert.deepEqual(
    node.connections.map((c) => JSON.parse(c.request)),
    answers.map(() => ({ peer: KEY, v2: true })),
  );
});

test('without GRD_P2P_SOCKET the node is asked at the repository\'s own socket, a linked worktree\'s included', async (t) => {
  const s = setup(t);
  const node = await fakeNode(t, socketPath(join(s.repo, '.git')), (c) => c.socket.end('error asked at the repository\'s socket\n'));
  const env = { ...s.env };
  delete env.GRD_P2P_SOCKET;
  commit(s.repo, 'for a worktree');
  const worktree = join(s.dir, 'wt');
  git(s.repo, 'worktree', 'add', '-q', worktree);
  const runs = [
    runHelper(t, s, 'capabilities\nconnect git-upload-pack\n', { end: false, env }),
    // git runs its helpers with GIT_DIR set: in a linked worktree, the worktree's own git dir
    runHelper(t, { ...s, repo: worktree }, 'capabilities\nconnect git-upload-pack\n', { end: false, env: { ...env, GIT_DIR: join(s.repo, '.git', 'worktrees', 'wt') } }),
  ];
  for (const h of runs) {
    assert.equal((await h.done).code, 128);
    assert.equal(h.stderr(), `git-remote-p2p: cannot reach peer ${FP}: asked at the repository's socket\n`);
  }
  assert.equal(node.connections.length, 2);
});

test('no daemon (no socket, or one nobody listens on), or a node that leaves this peer out: the helper connects on its own', async (t) => {
  const s = setup(t);
  await fakeNode(t, s.socket, (c) => c.socket.end(`error ${NOT_A_PEER}\n`));
  const notSocket = join(s.dir, 'not-a-socket');
  writeFileSync(notSocket, '');
  const runs = [s.socket, join(s.dir, 'missing.sock'), notSocket].map((socket) =>
    runHelper(t, s, 'capabilities\nconnect git-upload-pack\n', { end: false, env: { ...s.env, GRD_P2P_SOCKET: socket } }),
  );
  for (const h of runs) {
    assert.equal((await h.done).code, 128);
    // On its own it first loads this repository's key, which (here) it refuses: so it got that far.
    assert.match(h.stderr(), /^git-remote-p2p: \S+\/remote-daemon\/p2p-key is readable by others \(mode 644\); refusing to use it\./);
    assert.doesNotMatch(h.stderr(), /cannot reach peer/);
  }
});

test('git going away while the helper waits for the node ends the helper, and its request', async (t) => {
  const s = setup(t);
  const node = await fakeNode(t, s.socket, () => {});
  const asked = node.nextRequest();
  const h = runHelper(t, s, 'capabilities\nconnect git-upload-pack\n', { end: false });
  const c = await asked;
  h.child.stdin.end();
  const { code, signal, ms } = await h.done;
  assert.equal(signal, null, 'ended by itself, not killed as hung');
  assert.equal(code, 128);
  assert.ok(ms < 10_000, `${ms} ms: not at the 30 s connect timeout`);
  assert.equal(h.stdout(), 'connect\n\n');
  if (!c.ended) await once(c.socket, 'end');
  assert.ok(c.ended, 'the request to the node is dropped with it');
});

test('an open session: what git sent before it opened reaches the peer first, what the node sent with its ok reaches git, and git\'s end ends both', async (t) => {
  const s = setup(t);
  const node = await fakeNode(t, s.socket, (c) => c.socket.write('ok\nfrom the peer;'));
  const asked = node.nextRequest();
  // git writes its first request right after `connect`, before it has read our answer
  const h = runHelper(t, s, 'capabilities\nconnect git-upload-pack\n0014command=ls-refs\n', { end: false });
  const c = await asked;
  await eventuallyTrue(() => h.stdout() === 'connect\n\n\nfrom the peer;', () => `git read ${JSON.stringify(h.stdout())}`);
  h.child.stdin.write('0000');
  await eventuallyTrue(() => Buffer.concat(c.received).toString() === '0014command=ls-refs\n0000', () => `the peer read ${JSON.stringify(Buffer.concat(c.received).toString())}`);
  c.socket.write('more from the peer');
  await eventuallyTrue(() => h.stdout().endsWith('more from the peer'), () => `git read ${JSON.stringify(h.stdout())}`);
  h.child.stdin.end();
  if (!c.ended) await once(c.socket, 'end');
  assert.ok(c.ended, 'git\'s end is passed on: the helper ended its side of the session');
  c.socket.end(); // as upload-pack does once it has answered
  const { code } = await h.done;
  assert.equal(code, 0, h.stderr());
  assert.equal(h.stderr(), '');
});

test('an ok that comes in pieces is still an ok, and nothing after it is lost', async (t) => {
  const s = setup(t);
  const node = await fakeNode(t, s.socket, (c) => {
    void (async () => {
      for (const piece of ['o', 'k', '\nfirst', ' bytes']) {
        c.socket.write(piece);
        await new Promise((r) => setImmediate(r));
      }
    })();
  });
  const h = runHelper(t, s, 'capabilities\nconnect git-upload-pack\n', { end: false });
  await eventuallyTrue(() => h.stdout() === 'connect\n\n\nfirst bytes', () => `git read ${JSON.stringify(h.stdout())}`);
  h.child.stdin.end();
  assert.equal((await h.done).code, 0, h.stderr());
  assert.equal(node.connections.length, 1);
});

test('a session the node ends: git reads its end, and the helper still waits for git to close its side before it exits', async (t) => {
  // KNOWN ISSUE (not fixed here): under a real `git fetch` the helper runs below a `git remote-p2p`
  // that holds a copy of our stdout (the pipe's write end), so git never reads this end and, if it
  // was waiting for more, never closes its side: the fetch hangs until killed. The thin helper
  // (held/git-remote-p2p, held.test.ts) exits early instead; this one may not simply do so, as git
  // must get its exit status after the received-objects check, once git has stored what it got.
  const s = setup(t);
  const node = await fakeNode(t, s.socket, (c) => c.socket.end('ok\nthe peer is done'));
  const h = runHelper(t, s, 'capabilities\nconnect git-upload-pack\n', { end: false });
  await h.stdoutEnded;
  assert.equal(h.stdout(), 'connect\n\n\nthe peer is done');
  assert.equal(h.child.exitCode, null, 'still there: its exit status is for after git closes its side');
  h.child.stdin.end();
  const { code } = await h.done;
  assert.equal(code, 0, h.stderr());
  assert.equal(node.connections.length, 1);
});

/** Waits until `condition` holds; events here are other processes' output, read as it comes. */
async function eventuallyTrue(condition: () => boolean, what: () => string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out: ${what()}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

// Through a real git: the helper found on PATH, a real upload-pack as the peer.

/** A repository to serve, its main made by `make` (given the repository). */
function served(t: TestContext, make: (dir: string) => string): { dir: string; main: string } {
  const d = tempDir('grd-remotehelper-served-');
  t.after(d.cleanup);
  const dir = join(d.path, 'served');
  git(d.path, 'init', '-q', '-b', 'main', dir);
  commit(dir, 'first');
  const main = make(dir);
  git(dir, 'update-ref', 'refs/heads/main', main);
  return { dir, main };
}

/** A commit on main whose author line fsck refuses (no email). */
function corruptCommit(dir: string): string {
  const tree = git(dir, 'rev-parse', 'HEAD^{tree}');
  const body = `tree ${tree}\nparent ${git(dir, 'rev-parse', 'HEAD')}\nauthor Mallory 1700000000 +0000\ncommitter Mallory <m@example.invalid> 1700000000 +0000\n\nbad\n`;
  return execFileSync('git', ['hash-object', '--literally', '-t', 'commit', '-w', '--stdin'], { cwd: dir, input: body, encoding: 'utf8' }).trim();
}

/** A well-formed commit on main whose tree holds a `.git` directory: what a checkout must never write. */
function dotGitCommit(dir: string): string {
  const empty = execFileSync('git', ['hash-object', '-t', 'tree', '-w', '--stdin'], { cwd: dir, input: '', encoding: 'utf8' }).trim();
  const blob = execFileSync('git', ['hash-object', '-w', '--stdin'], { cwd: dir, input: '[core]\n\tfsmonitor = evil\n', encoding: 'utf8' }).trim();
  const inner = execFileSync('git', ['mktree'], { cwd: dir, input: `100644 blob ${blob}\tconfig\n`, encoding: 'utf8' }).trim();
  const tree = execFileSync('git', ['mktree'], { cwd: dir, input: `040000 tree ${inner}\t.git\n040000 tree ${empty}\tempty\n`, encoding: 'utf8' }).trim();
  return git(dir, 'commit-tree', '-p', 'HEAD', '-m', 'a .git of its own', tree);
}

const has = (repo: string, id: string) => {
  try {
    execFileSync('git', ['cat-file', '-e', id], { cwd: repo, stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

test('git ls-remote goes through the helper and the node\'s session to the peer\'s upload-pack', async (t) => {
  const s = setup(t);
  const peer = served(t, (dir) => commit(dir, 'second'));
  const node = await servingNode(t, s.socket, peer.dir, s.env);
  const listed = await runGit(t, s, 'ls-remote', URL_);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, new RegExp(`^${peer.main}\trefs/heads/main$`, 'm'));
  assert.deepEqual(JSON.parse(node.connections[0].request), { peer: KEY, v2: true });
});

// git fetch (protocol v2, fetch-pack.c) half-closes its side of the session as soon as it has read
// the "packfile" section header, before the pack. The helper used to take that for "git has stored
// what it received": it ended the session, checked what had arrived so far (nothing yet) and exited
// 0, cutting the pack off, or, when the pack had reached git already, letting git store it
// unchecked and move the ref. It now waits until git has closed its end of our stdout.

test('git fetch goes through the helper and the node\'s session to the peer\'s upload-pack', async (t) => {
  const s = setup(t);
  const peer = served(t, (dir) => commit(dir, 'second'));
  await servingNode(t, s.socket, peer.dir, s.env);
  const fetched = await runGit(t, s, 'fetch', URL_, '+refs/heads/*:refs/remotes/peer/*');
  assert.equal(fetched.code, 0, fetched.stderr);
  assert.equal(refValue(s.repo, 'refs/remotes/peer/main'), peer.main);
});
test('what git does not check, the helper does: a tree with a .git directory is refused, loose or packed; the fetch fails, no ref moves, nothing is kept', async (t) => {
  const s = setup(t);
  const peer = served(t, dotGitCommit);
  await servingNode(t, s.socket, peer.dir, s.env);
  // Small fetches are unpacked to loose objects; with fetch.unpackLimit=1 git keeps a pack, which
  // the helper judges only because the .keep names git fetch (its grandparent: git runs the helper
  // through a `git remote-p2p` of its own).
  for (const extra of [[], ['-c', 'fetch.unpackLimit=1']]) {
    const r = await runGit(t, s, ...extra, 'fetch', URL_, '+refs/heads/*:refs/remotes/peer/*');
    assert.notEqual(r.code, 0, `${extra.join(' ')}: the fetch fails`);
    assert.match(r.stderr, /git-remote-p2p: refused what peer sent: .*hasDotgit.*nothing was updated/, extra.join(' '));
    assert.equal(refValue(s.repo, 'refs/remotes/peer/main'), undefined, 'no ref moved');
    assert.equal(has(s.repo, peer.main), false, 'the refused objects are not kept');
  }
});

test('the helper checks unless git checks itself: fetch.fsckObjects=false overrides transfer.fsckObjects, and git\'s own refusal is left to git', async (t) => {
  const s = setup(t);
  const peer = served(t, corruptCommit);
  await servingNode(t, s.socket, peer.dir, s.env);
  const ours = await runGit(t, s, '-c', 'transfer.fsckObjects=true', '-c', 'fetch.fsckObjects=false', 'fetch', URL_, '+refs/heads/*:refs/remotes/peer/*');
  assert.notEqual(ours.code, 0);
  assert.match(ours.stderr, /git-remote-p2p: refused what peer sent: .*missingEmail/);
  assert.equal(refValue(s.repo, 'refs/remotes/peer/main'), undefined);

  const gits = await runGit(t, s, '-c', 'transfer.fsckObjects=true', 'fetch', URL_, '+refs/heads/*:refs/remotes/peer/*');
  assert.notEqual(gits.code, 0);
  assert.match(gits.stderr, /missingEmail/, 'git refused it');
  assert.doesNotMatch(gits.stderr, /git-remote-p2p: refused/, 'and the helper did not check again');
  assert.equal(refValue(s.repo, 'refs/remotes/peer/main'), undefined);
});

test('a peer that sends the pack in one piece with its section header is checked too: a corrupt commit does not land', async (t) => {
  // Here the whole pack reaches git before git's half-close reaches the helper: a helper that
  // checked then found nothing stored yet, exited 0, and git stored the pack and moved the ref.
  const s = setup(t);
  const peer = served(t, corruptCommit);
  await servingNode(t, s.socket, peer.dir, s.env, { packInOnePiece: true });
  const r = await runGit(t, s, 'fetch', URL_, '+refs/heads/*:refs/remotes/peer/*');
  assert.notEqual(r.code, 0, 'the fetch fails');
  assert.match(r.stderr, /git-remote-p2p: refused what peer sent: .*missingEmail/);
  assert.equal(refValue(s.repo, 'refs/remotes/peer/main'), undefined, 'no ref moved');
  assert.equal(has(s.repo, peer.main), false, 'the refused objects are not kept');
});
