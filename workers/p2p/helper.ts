// git-remote-p2p: what git runs for a `p2p://<key>` remote (`git fetch`, `git ls-remote`, `git
// clone`). A `connect` helper: git speaks its own protocol through us to the peer's upload-pack.
// With the daemon running it borrows the held link through the peer node's unix socket; without
// it, it connects on its own with this repository's key. Fetch only: a push is refused here,
// before anything is sent.

import { readSync } from 'node:fs';
import { connect as connectSocket, type Socket } from 'node:net';
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { parseConfigList } from '../../src/gitconfig.js';
import { findGitDir } from '../local/transport.js';
import { fingerprint, keyOf } from './address.js';
import { loadIdentity } from './identity.js';
import { NOT_A_PEER, socketPath } from './nodeapi.js';
import { dhtOptions, readSettings } from './settings.js';

const CONNECT_TIMEOUT_MS = 30_000;

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
  const url = process.argv[3] ?? process.argv[2] ?? '';
  const key = keyOf(url);
  if (!key) die(`${url} is not a peer address (p2p:// and a key)`);
  for (;;) {
    const line = readLine();
    if (line === undefined || line === '') return;
    if (line === 'capabilities') {
      process.stdout.write('connect\n\n');
    } else if (line === 'connect git-upload-pack') {
      const stream = await open(key);
      process.stdout.write('\n');
      return splice(stream);
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

/** A session to the peer's upload-pack: through the daemon's node if it runs, else on our own. */
async function open(key: string): Promise<NodeJS.ReadWriteStream> {
  const common = gitDir();
  const socket = process.env.GRD_P2P_SOCKET || socketPath(common);
  const borrowed = await viaNode(socket, key).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') return undefined; // no daemon here
    if (err.message === NOT_A_PEER) return undefined; // a remote the daemon leaves out
    die(`cannot reach peer ${fingerprint(key)}: ${err.message}`);
  });
  return borrowed ?? (await standalone(common, key));
}

function viaNode(path: string, key: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connectSocket({ path, allowHalfOpen: true });
    let answer = Buffer.alloc(0);
    socket.once('error', reject);
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

async function standalone(common: string, key: string): Promise<NodeJS.ReadWriteStream> {
  const identity = await loadIdentity(common, { create: true }).catch((err: Error) => die(err.message));
  const config = parseConfigList(execFileSync('git', ['config', '-z', '--list'], { encoding: 'utf8' }));
  const settings = readSettings(config)?.settings ?? { reachable: false };
  const { default: DHT } = await import('hyperdht');
  const { PeerConnection } = await import('./wire.js');
  const keyPair = DHT.keyPair(identity.seed);
  const { reachable: _ignored, ...rest } = settings as { reachable: boolean };
  // A one-off fetch is never a DHT node others rely on, whatever the daemon's node is.
  const dht = new DHT({ ...dhtOptions({ ...rest, reachable: false, port: undefined }), keyPair });
  const stream = dht.connect(Buffer.from(key, 'hex'), { keyPair });
  stream.on('error', (err: Error) => die(`cannot reach peer ${fingerprint(key)}: ${err.message}`));
  const timer = setTimeout(() => die(`no answer from peer ${fingerprint(key)} within ${CONNECT_TIMEOUT_MS / 1000} s`), CONNECT_TIMEOUT_MS);
  const conn = new PeerConnection(stream, {});
  const pipe = await conn.openSession({ service: 'git-upload-pack', v2: true }).catch((err: Error) => die(err.message));
  clearTimeout(timer);
  pipe.on('close', () => void dht.destroy({ force: true }).finally(() => process.exit(0)));
  return pipe;
}

function splice(stream: NodeJS.ReadWriteStream): void {
  process.stdin.pipe(stream as NodeJS.WritableStream);
  stream.pipe(process.stdout);
  stream.on('error', (err: Error) => die(`the session to the peer failed: ${err.message}`));
  stream.on('end', () => process.stdout.end());
}

void main().catch((err: Error) => die(err.message));
