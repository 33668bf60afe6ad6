// docs/offline.md, followed literally: every code block marked `<!-- test: <name> -->` there is run
// here as it stands (`sh -e -c <block>`), with only the page's documented variables set to this
// test's own ports and paths. Everything is on loopback and hermetic: its own HOME and global git
// config, its own sshd, key and known_hosts (an `ssh` on PATH that adds them), its own DHT
// bootstrap node, wormhole mailbox, git daemon and Prosody; every process it starts is stopped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { shellQuote } from '../../shared/kit/shell.js';
import { ensureTestUser, startSshd, writeServerBin } from '../support/sshd.js';
import { freePort } from '../support/ports.js';
import { eventually } from '../support/daemon.js';
import { tempDir } from '../support/git.js';

type T = { after(fn: () => unknown): void; diagnostic(text: string): void };

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DOC = join(ROOT, 'docs/offline.md');
const CHECKOUT_BIN = join(ROOT, 'bin');

/** The marked blocks of the page, by name, in order. */
function markedBlocks(): Map<string, string> {
  const text = readFileSync(DOC, 'utf8');
  const blocks = new Map<string, string>();
  const marked = /^<!-- test: ([\w-]+) -->\n```sh\n([\s\S]*?)^```$/gm;
  for (const m of text.matchAll(marked)) {
    assert.ok(!blocks.has(m[1]!), `block ${m[1]} is marked twice`);
    blocks.set(m[1]!, m[2]!);
  }
  return blocks;
}

const BLOCKS = markedBlocks();
const USED = ['ssh-server', 'ssh-client', 'ssh-daemon', 'ssh-push', 'dht', 'dht-check', 'mailbox', 'p2p-repos', 'pair-first', 'pair-second', 'p2p-desk', 'p2p-laptop', 'p2p-commit', 'forge-init', 'forge', 'xmpp-setup', 'xmpp-server', 'xmpp-devices', 'xmpp-a', 'xmpp-b', 'xmpp-push'];

function block(name: string): string {
  const text = BLOCKS.get(name);
  assert.ok(text !== undefined, `docs/offline.md has no block marked ${name}`);
  return text;
}

interface As {
  uid: number;
  gid: number;
}

/** The environment every block runs in: the page's variables and a hermetic git and ssh. */
async function environment(t: T, vars: Record<string, string>, ssh?: string[]): Promise<{ env: Record<string, string>; work: string; root: string }> {
  const dir = tempDir('grd-offline-doc-');
  t.after(dir.cleanup);
  const home = join(dir.path, 'home');
  const work = join(dir.path, 'work');
  const shims = join(dir.path, 'shims');
  for (const d of [home, work, shims]) mkdirSync(d, { recursive: true });
  chmodSync(dir.path, 0o755); // the test user (Prosody) must reach its directory inside
  const gitconfig = join(home, '.gitconfig');
  writeFileSync(gitconfig, '[user]\n\tname = Offline Test\n\temail = offline@example.invalid\n');
  if (ssh) {
    // `ssh` as the page uses it, with the test's own key and known_hosts and no user config.
    const real = execFileSync('sh', ['-c', 'command -v ssh'], { encoding: 'utf8' }).trim();
    writeFileSync(join(shims, 'ssh'), `#!/bin/sh\nexec ${[real, ...ssh.slice(1)].map(shellQuote).join(' ')} "$@"\n`, { mode: 0o755 });
  }
  const env = {
    PATH: `${shims}:${CHECKOUT_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    HOME: home,
    GIT_CONFIG_GLOBAL: gitconfig,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    LANG: 'C.UTF-8',
    WORK: work,
    ...vars,
  };
  return { env, work, root: dir.path };
}

/** Runs a block to its end; rejects with its output when it fails. */
function run(name: string, env: Record<string, string>, as?: As): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-e', '-c', block(name)], { env, stdio: ['ignore', 'pipe', 'pipe'], ...(as ?? {}), cwd: as ? '/' : env.WORK });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve({ stdout, stderr }) : reject(new Error(`block ${name} exited with ${code}:\n${stdout}${stderr}`))));
  });
}

interface Running {
  lines: string[];
  stderr: string[];
  /** Resolves with the first stdout (or stderr) line that matches. */
  waitFor(match: RegExp, options?: { stderr?: boolean; timeoutMs?: number }): Promise<string>;
  /** Ends stdin (a daemon stops at end of input), then stops the process group after a grace. */
  stop(): Promise<void>;
}

/** Starts a block that runs until stopped (a server, a daemon), in a process group of its own. */
function start(t: T, name: string, env: Record<string, string>, as?: As): Running {
  const child: ChildProcess = spawn('sh', ['-e', '-c', block(name)], { env, stdio: ['pipe', 'pipe', 'pipe'], detached: true, ...(as ?? {}), cwd: as ? '/' : env.WORK });
  const lines: string[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => lines.push(l));
  createInterface({ input: child.stderr! }).on('line', (l) => stderr.push(l));
  let exited = false;
  const gone = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  const group = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // the group is gone
    }
  };
  const stop = async () => {
    child.stdin!.end();
    const grace = (ms: number) => Promise.race([gone, new Promise((r) => setTimeout(r, ms).unref())]);
    await grace(5_000);
    group('SIGTERM'); // what is left of the group (a server, or a daemon that did not stop)
    await grace(5_000);
    group('SIGKILL');
    await gone;
  };
  t.after(stop);
  return {
    lines,
    stderr,
    async waitFor(match, { stderr: inStderr = false, timeoutMs = 30_000 } = {}) {
      const source = inStderr ? stderr : lines;
      await eventually(() => source.some((l) => match.test(l)) || exited, `${name} printed ${match}`, timeoutMs).catch((err: Error) => {
        throw new Error(`${err.message}\nstdout:\n${lines.join('\n')}\nstderr:\n${stderr.slice(-40).join('\n')}`);
      });
      const line = source.find((l) => match.test(l));
      if (line === undefined) throw new Error(`${name} exited before printing ${match}:\nstdout:\n${lines.join('\n')}\nstderr:\n${stderr.slice(-40).join('\n')}`);
      return line;
    },
    stop,
  };
}

/** Until something accepts TCP connections on 127.0.0.1:port (the servers say nothing when ready). */
async function listening(port: number, what: Running, name: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (up) return;
    if (Date.now() > deadline) throw new Error(`${name} did not listen on ${port}:\n${what.stderr.join('\n')}`);
    await new Promise((r) => setTimeout(r, 50)); // no event to await: polling the port is the readiness check
  }
}

function gitOut(cwd: string, env: Record<string, string>, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env, encoding: 'utf8' }).trim();
}

test('docs/offline.md: every marked block is one this test runs', () => {
  assert.deepEqual([...BLOCKS.keys()], USED);
});

test('docs/offline.md, section 1: a push to the ssh server is fetched at once through the notifier named by path', async (t) => {
  const sshd = await startSshd();
  t.after(() => sshd.dispose());
  const serverDir = await sshd.makeRepoDir();
  const serverGrd = join(await writeServerBin(join(serverDir, 'bin')), 'git-remote-daemon');
  const { env, work } = await environment(t, { SERVER: `ssh://${sshd.user}@${sshd.host}:${sshd.port}`, SERVER_REPO: join(serverDir, 'project.git'), SERVER_GRD: serverGrd }, sshd.sshArgs);

  await run('ssh-server', { ...env, HOME: sshd.home }, { uid: sshd.uid, gid: sshd.gid });
  const client = await run('ssh-client', env);
  assert.match(client.stdout, /^\d+\.\d+\.\d+/m, 'the notifier ran through a non-interactive session by its path');
  const daemon = start(t, 'ssh-daemon', env);
  await daemon.waitFor(/^CONNECTED origin$/);
  await run('ssh-push', env);
  const pushed = gitOut(join(work, 'desk'), env, 'rev-parse', 'HEAD');
  await daemon.waitFor(/^DONESYNCING origin 1$/);
  assert.equal(gitOut(join(work, 'laptop'), env, 'rev-parse', 'refs/remotes/origin/main'), pushed);
  assert.deepEqual(daemon.lines.filter((l) => l.startsWith('WARNING')), [], 'no notifier warning: it was found, nothing polls');
  await daemon.stop();
});

test('docs/offline.md, section 2: peers paired through a local mailbox sync over a loopback-only bootstrap node', async (t) => {
  const [dhtPort, mailboxPort] = [await freePort(), await freePort()];
  const { env, work } = await environment(t, { DHT_PORT: String(dhtPort), MAILBOX_PORT: String(mailboxPort) });

  const dht = start(t, 'dht', env);
  await dht.waitFor(/^bootstrap node on /);
  const bound = (await run('dht-check', env)).stdout;
  // ss -H: state, queues, then the local address of each socket on that port.
  const local = bound.trim().split('\n').map((line) => line.trim().split(/\s+/)[3]);
  assert.deepEqual(local, [`127.0.0.1:${dhtPort}`], `bound to loopback only:\n${bound}`);

  const mailbox = start(t, 'mailbox', env);
  await listening(mailboxPort, mailbox, 'the mailbox');
  await run('p2p-repos', env);

  let first: Promise<unknown> | undefined;
  const pairing = start(t, 'pair-first', env);
  first = pairing.waitFor(/^paired with p2p:\/\//);
  const code = /^code: (\S+)$/.exec(await pairing.waitFor(/^code: \S+$/, { stderr: true }))![1]!;
  await run('pair-second', { ...env, CODE: code });
  await first;
  const desk = join(work, 'p2p/desk');
  const laptop = join(work, 'p2p/laptop');
  assert.match(gitOut(desk, env, 'config', 'remote.laptop.url'), /^p2p:\/\//);
  assert.match(gitOut(laptop, env, 'config', 'remote.desk.url'), /^p2p:\/\//);

  const dDesk = start(t, 'p2p-desk', env);
  const dLaptop = start(t, 'p2p-laptop', env);
  await dLaptop.waitFor(/^DONESYNCING desk 1$/, { timeoutMs: 60_000 });
  await dDesk.waitFor(/^CONNECTED laptop$/, { timeoutMs: 60_000 });
  const before = dLaptop.lines.length;
  await run('p2p-commit', env);
  const made = gitOut(desk, env, 'rev-parse', 'HEAD');
  await eventually(() => dLaptop.lines.slice(before).includes('DONESYNCING desk 1'), 'the laptop fetched the new commit', 30_000);
  assert.equal(gitOut(laptop, env, 'rev-parse', 'refs/remotes/desk/main'), made);
  await Promise.all([dDesk.stop(), dLaptop.stop()]);
});

test('docs/offline.md, section 3: a notice over a minimal local Prosody makes the other device fetch at once', async (t) => {
  const account = await ensureTestUser();
  const [forgePort, xmppPort] = [await freePort(), await freePort()];
  const vars = { FORGE_PORT: String(forgePort), XMPP_PORT: String(xmppPort), XMPP_PASSWORD: 'correct horse battery' };
  const { env, work, root } = await environment(t, vars);
  const xmppDir = join(root, 'xmpp-server');
  mkdirSync(xmppDir);
  chownSync(xmppDir, account.uid, account.gid);
  env.XMPP_DIR = xmppDir;
  const asUser = { uid: account.uid, gid: account.gid };
  const userEnv = { ...env, HOME: account.home };

  await run('forge-init', env);
  const forge = start(t, 'forge', env);
  await listening(forgePort, forge, 'git daemon');
  await run('xmpp-setup', userEnv, asUser);
  const prosody = start(t, 'xmpp-server', userEnv, asUser);
  await listening(xmppPort, prosody, 'prosody');
  await run('xmpp-devices', env);

  const a = start(t, 'xmpp-a', env);
  const b = start(t, 'xmpp-b', env);
  const loggedIn = /xmpp endpoint: logged in as (me@localhost\/\S+);/;
  const asA = loggedIn.exec(await a.waitFor(loggedIn, { stderr: true }))![1]!;
  const asB = loggedIn.exec(await b.waitFor(loggedIn, { stderr: true }))![1]!;
  assert.notEqual(asA, asB, 'two resources of one account');
  await Promise.all([a.waitFor(/^CONNECTED origin$/), b.waitFor(/^CONNECTED origin$/)]);
  // A notice reaches only a device A knows is listening.
  await a.waitFor(new RegExp(`${asB.replace(/[.]/g, '\\.')} listens for notices`), { stderr: true });
  const before = b.lines.length;
  await run('xmpp-push', env);
  const pushed = gitOut(join(work, 'xmpp/a'), env, 'rev-parse', 'HEAD');
  await eventually(() => b.lines.slice(before).includes('DONESYNCING origin 1'), 'device B fetched the push', 30_000);
  assert.equal(gitOut(join(work, 'xmpp/b'), env, 'rev-parse', 'refs/remotes/origin/main'), pushed);
  assert.ok(b.stderr.some((l) => /nudged \(xmpp: notice from me@localhost\)/.test(l)), `B looked because of A's notice:\n${b.stderr.slice(-30).join('\n')}`);
  assert.deepEqual(b.lines.filter((l) => l.startsWith('WARNING')), []);
  await Promise.all([a.stop(), b.stop()]);
});
