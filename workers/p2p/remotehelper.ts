// git-remote-p2p: what git runs for a `p2p://<key>` remote (`git fetch`, `git ls-remote`, `git
// clone`). A `connect` helper: git speaks its own protocol through us to the peer's upload-pack.
// With the daemon running it borrows the held link through the peer node's unix socket; without
// it, it connects on its own with this repository's key. Fetch only: a push is refused here,
// before anything is sent.
//
// It never outlives its git: while it connects it watches its stdin, which closes when git ends
// (however it ends), and it gives up after remotedaemon.p2p.connectTimeout (30 s). git closes
// its side of the session once it has asked for the pack, before the pack; the helper passes that
// on and stays until git has read and stored what it wanted (git closes its end of our stdout,
// or dies), then exits, whatever the peer does. Where git does not check what it receives (no
// transfer.fsckObjects), it checks it then (received.ts), before git may update a ref.

import { readdirSync, readFileSync, readlinkSync, readSync } from 'node:fs';
import { connect as connectSocket, type Socket } from 'node:net';
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { last, parseConfigList, type GitConfig } from '../../shared/gitconfig.js';
import { findGitDir } from '../../shared/kit/gitdir.js';
import { addressOf, fingerprint, keyOf } from './address.js';
import { repositoryOrUserIdentity } from './identity.js';
import { NOT_A_PEER, socketPath } from './nodeapi.js';
import { checkArrived, gitChecksFetches, snapshotObjects, strictArgument, type ObjectSnapshot } from './received.js';
import { dhtOptions, readSettings } from './settings.js';
import { mark } from '../timing.js';

/** How long a session may take to open (remotedaemon.p2p.connectTimeout, in seconds). */
const DEFAULT_CONNECT_TIMEOUT_S = 30;

function die(text: string): never {
  process.stderr.write(`git-remote-p2p: ${text}\n`);
  process.exit(128);
}

/** Reads one line from git byte by byte: whatever follows it belongs to the raw session. */
function readLine(): string | undefined {
  const bytes: number[] = [];
  const one = Buffer.alloc(1);
  for (;;) {
    let n: number;
    try {
      n = readSync(0, one, 0, 1, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      throw err;
    }
    if (n === 0) return bytes.length ? Buffer.from(bytes).toString('utf8') : undefined;
    if (one[0] === 10) return Buffer.from(bytes).toString('utf8');
    if (bytes.length > 4096) die('over-long command from git');
    bytes.push(one[0]);
  }
}

async function main(): Promise<void> {
  mark('helper-spawned', performance.timeOrigin);
  mark('helper-main');
  const url = process.argv[3] ?? process.argv[2] ?? '';
  const key = keyOf(url);
  if (!key) die(`${url} is not a peer address (p2p:// and a key)`);
  for (;;) {
    const line = readLine();
    if (line === undefined || line === '') return;
    if (line === 'capabilities') {
      process.stdout.write('connect\n\n');
    } else if (line === 'connect git-upload-pack') {
      const fromGit = holdStdin();
      const common = gitDir();
      const config = parseConfigList(execFileSync('git', ['config', '-z', '--list'], { encoding: 'utf8' }));
      const check = gitChecksFetches(config) ? undefined : receivedCheck(common, config);
      const seconds = connectTimeoutSeconds(config);
      const timer = setTimeout(() => die(`no session with peer ${fingerprint(key)} within ${seconds} s (remotedaemon.p2p.connectTimeout)`), seconds * 1000);
      const stream = await open(common, config, key);
      mark('helper-connected');
      clearTimeout(timer);
      process.stdout.write('\n');
      return splice(stream, fromGit, check);
    } else if (line.startsWith('connect ')) {
      die(`peers are read-only: ${line.slice(8)} is refused (${fingerprint(key)} fetches from you when it has this repository as a remote)`);
    } else {
      die(`unsupported command from git: ${JSON.stringify(line.slice(0, 100))}`);
    }
  }
}

function gitDir(): string {
  const dir = process.env.GIT_DIR ? resolve(process.env.GIT_DIR) : execFileSync('git', ['rev-parse', '--absolute-git-dir'], { encoding: 'utf8' }).trim();
  return findGitDir(dir);
}

function connectTimeoutSeconds(config: GitConfig): number {
  const text = last(config, 'remotedaemon.p2p.connecttimeout');
  if (text === undefined) return DEFAULT_CONNECT_TIMEOUT_S;
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 3600) die(`remotedaemon.p2p.connectTimeout: ${JSON.stringify(text)} is not a number of seconds (0 < s <= 3600)`);
  return seconds;
}

/**
 * git's stdin from now on: it says nothing until we answer `connect`, but its end means git is
 * gone (killed, or the user's Ctrl-C), and then so are we. Whatever it says is kept for the peer.
 */
function holdStdin(): { chunks: Buffer[]; ended: boolean } {
  const held = { chunks: [] as Buffer[], ended: false };
  const onData = (chunk: Buffer) => held.chunks.push(chunk);
  const onEnd = () => {
    held.ended = true;
    process.exit(128); // git went away while we connected: nobody to tell
  };
  process.stdin.on('data', onData);
  process.stdin.once('end', onEnd);
  (held as { release?: () => void }).release = () => {
    process.stdin.off('data', onData);
    process.stdin.off('end', onEnd);
    process.stdin.pause();
  };
  return held;
}

/** git fetch's pid: our parent, or its parent when git ran us through a `git remote-p2p` of its own. */
function gitPids(): number[] {
  const pids = [process.ppid];
  try {
    const stat = readFileSync(`/proc/${process.ppid}/stat`, 'utf8');
    pids.push(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
  } catch {
    // not Linux, or gone
  }
  return pids;
}

function receivedCheck(common: string, config: GitConfig): { objects: string; before: ObjectSnapshot; strict: string } {
  const objects = process.env.GIT_OBJECT_DIRECTORY ? resolve(process.env.GIT_OBJECT_DIRECTORY) : `${common}/objects`;
  return { objects, before: snapshotObjects(objects), strict: strictArgument(config) };
}

/** A session to the peer's upload-pack: through the daemon's node if it runs, else on our own. */
async function open(common: string, config: GitConfig, key: string): Promise<NodeJS.ReadWriteStream> {
  const socket = process.env.GRD_P2P_SOCKET || socketPath(common);
  const borrowed = await viaNode(socket, key).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') return undefined; // no daemon here
    if (err.message === NOT_A_PEER) return undefined; // a remote the daemon leaves out
    die(`cannot reach peer ${fingerprint(key)}: ${err.message}`);
  });
  return borrowed ?? (await standalone(common, config, key));
}

function viaNode(path: string, key: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connectSocket({ path, allowHalfOpen: true });
    let answer = Buffer.alloc(0);
    socket.once('error', reject);
    // Closed without an answer (the node gave up on us, or stopped): no session. Its end is what
    // we read: half-open, our socket is not closed by it, and 'close' alone waited for the timeout.
    const unanswered = () => reject(new Error('the daemon\'s peer node closed the request without an answer'));
    socket.once('end', unanswered);
    socket.once('close', unanswered);
    socket.on('connect', () => socket.write(`${JSON.stringify({ peer: key, v2: true })}\n`));
    const onData = (chunk: Buffer) => {
      answer = Buffer.concat([answer, chunk]);
      const nl = answer.indexOf(10);
      if (nl < 0) return;
      socket.off('data', onData);
      socket.pause();
      const line = answer.subarray(0, nl).toString('utf8');
      if (line !== 'ok') return reject(new Error(line.replace(/^error /, '')));
      const rest = answer.subarray(nl + 1);
      if (rest.length) socket.unshift(rest);
      resolve(socket);
    };
    socket.on('data', onData);
  });
}

async function standalone(common: string, config: GitConfig, key: string): Promise<NodeJS.ReadWriteStream> {
  // A repository with no key yet (the one `git clone` is making) connects as the user, and keeps
  // that key: its daemon is then let in wherever the user was.
  const { identity } = await repositoryOrUserIdentity(common).catch((err: Error) => die(err.message));
  const settings = readSettings(config)?.settings ?? { reachable: false };
  const { default: DHT } = await import('hyperdht');
  const { PeerConnection } = await import('./wire.js');
  const keyPair = DHT.keyPair(identity.seed);
  const { reachable: _ignored, ...rest } = settings as { reachable: boolean };
  // A one-off fetch is never a DHT node others rely on, whatever the daemon's node is.
  const dht = new DHT({ ...dhtOptions({ ...rest, reachable: false, port: undefined }), keyPair });
  const stream = dht.connect(Buffer.from(key, 'hex'), { keyPair });
  stream.on('error', (err: Error) => die(refusedText(key, identity.publicKey, err)));
  const conn = new PeerConnection(stream, {});
  return conn.openSession({ service: 'git-upload-pack', v2: true }).catch((err: Error) => die(err.message));
}

/**
 * Why no connection opened, in one line. A peer refuses a key it does not allow without a word
 * (strangers learn nothing, not even that it is there), so that cannot be told from a peer whose
 * daemon is not running: the line says both, and what to run on the other side for the first.
 */
function refusedText(peer: string, mine: string, err: Error): string {
  const code = (err as { code?: unknown }).code;
  const why = code === 'PEER_NOT_FOUND' ? 'it is not on the DHT (is its daemon running?)' : `no connection (${err.message})`;
  return `cannot reach peer ${fingerprint(peer)}: ${why}; if it does not allow you, run there: git config --add remotedaemon.p2p.allow ${addressOf(mine)}`;
}

/**
 * git <-> the peer until git closes its side, which it does once it has stored what it received
 * (or when it dies); then the received objects are checked if git did not, and we exit: git
 * waits for that before it updates refs, and a failure fails its fetch.
 */
function splice(stream: NodeJS.ReadWriteStream, fromGit: { chunks: Buffer[] }, check: { objects: string; before: ObjectSnapshot; strict: string } | undefined): void {
  (fromGit as { release?: () => void }).release?.();
  for (const chunk of fromGit.chunks) stream.write(chunk);
  process.stdout.on('error', () => {}); // git gone: its end of stdin tells us too
  process.stdin.pipe(stream as NodeJS.WritableStream, { end: false });
  stream.pipe(process.stdout);
  stream.on('error', (err: Error) => die(`the session to the peer failed: ${err.message}`));
  stream.on('end', () => process.stdout.end());
  process.stdin.once('end', () => {
    // git half-closes the session as soon as it has asked for the pack (fetch-pack, protocol v2),
    // before the pack: the peer is told, and the pack still flows to git. git has stored it when it
    // closes its end of our stdout; it then waits for our exit status before it updates a ref.
    stream.end();
    void (async () => {
      await gitDoneReading();
      (stream as unknown as { destroy?(): void }).destroy?.();
      const refused = check && (await checkArrived(check.objects, check.before, check.strict, process.cwd(), gitPids()));
      if (refused) die(`refused what peer sent: ${refused} (checked as transfer.fsckObjects would; nothing was updated)`);
      process.exit(0);
    })();
  });
  process.stdin.resume();
}

/**
 * Resolves once no process of git's (gitPids) holds the read end of our stdout any longer: git
 * closes it when it has read and stored all it wanted (or when it dies). Linux (/proc); elsewhere,
 * once the peer has ended the session.
 */
function gitDoneReading(): Promise<void> {
  let pipe: string;
  try {
    pipe = readlinkSync('/proc/self/fd/1');
  } catch {
    return new Promise((resolve) => (process.stdout.writableEnded ? resolve() : process.stdout.once('finish', resolve)));
  }
  const readers = (pid: number) => {
    try {
      return readdirSync(`/proc/${pid}/fd`).some((fd) => {
        try {
          if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== pipe) return false;
          const flags = /^flags:\s*([0-7]+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
          return flags !== null && (parseInt(flags[1], 8) & 3) === 0; // O_RDONLY: a read end
        } catch {
          return false;
        }
      });
    } catch {
      return false; // gone
    }
  };
  const pids = gitPids();
  return new Promise((resolve) => {
    const poll = () => (pids.some(readers) ? setTimeout(poll, 20) : resolve());
    poll();
  });
}

void main().catch((err: Error) => die(err.message));
