// What `git remote-daemon p2p ...` does: this repository's peer address, pairing two repositories
// with a short code phrase (magic-wormhole), a bootstrap node. The commands themselves are defined
// in cli.ts, which the plugin hands to the CLI; this module is loaded only when one runs.

import { execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { addressOf, fingerprint, keyOf } from './address.js';

/** `p2p address [--user]`. */
export async function address(options: { user?: boolean }): Promise<void> {
  const me = options.user ? await userIdentity() : await identity();
  process.stdout.write(`${addressOf(me)}\n`);
  process.stderr.write(`fingerprint: ${fingerprint(me)}\n`);
  if (options.user) process.stderr.write(`on the repository to clone from, run:  git config --add remotedaemon.p2p.allow ${addressOf(me)}\n`);
  else if (await sharesUserIdentity(me)) {
    // Said because this address works differently: peers allow it, but nobody can dial it.
    process.stderr.write('this repository uses your user identity (it was cloned over p2p): it dials its peers, none dials it\n');
  }
}

export async function bootstrap(options: { host: string; port: string }): Promise<void> {
  if (!/^\d{1,5}$/.test(options.port)) throw new Error(`--port must be a port number (1-65535), got ${JSON.stringify(options.port)}`);
  const { startBootstrapNode } = await import('./bootstrap.js');
  const node = await startBootstrapNode(options.host, Number(options.port));
  const where = `${node.host}:${node.port}`;
  process.stdout.write(`bootstrap node on ${where} (udp)\n`);
  process.stderr.write(`peers use it with:  git config remotedaemon.p2p.bootstrap ${where}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    process.once('SIGHUP', stop);
  });
  await node.close();
}

export async function run(work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (err) {
    const message = (err as Error).message;
    const hint = /not a git repository/i.test(message) ? '; run it inside a repository, or name one with -C <dir>' : '';
    process.stderr.write(`git-remote-daemon: ${message.split('\n').join(' ')}${hint}\n`);
    process.exitCode = 1;
  }
}

function git(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('git', args, (err, stdout, stderr) => (err ? reject(new Error(stderr.trim().replace(/^fatal: /, '') || err.message)) : resolve(stdout.trim()))),
  );
}

async function identity(): Promise<string> {
  const common = await git(['rev-parse', '--path-format=absolute', '--git-common-dir']);
  const { loadIdentity } = await import('./identity.js');
  return (await loadIdentity(common, { create: true })).publicKey;
}

/** The user's identity, made on first need: who `git clone p2p://...` is to the peer. */
async function userIdentity(): Promise<string> {
  const { loadUserIdentity } = await import('./identity.js');
  return (await loadUserIdentity({ create: true })).publicKey;
}

async function sharesUserIdentity(publicKey: string): Promise<boolean> {
  const { isUserIdentity } = await import('./identity.js');
  return isUserIdentity(publicKey);
}

export async function pair(code: string | undefined, options: { name: string; relayUrl?: string }): Promise<void> {
  const me = await identity();
  const mine = addressOf(me);
  const relay = options.relayUrl ? ['--relay-url', options.relayUrl] : [];
  if (!(await hasWormhole())) {
    process.stderr.write(
      [
        'magic-wormhole is not installed (Debian/Ubuntu: apt install magic-wormhole), so pair by hand:',
        `  1. Give the other side this address: ${mine}`,
        '  2. Get theirs (git remote-daemon p2p address there) and add it here:',
        `       git remote add ${options.name} <their address>`,
        '  3. Compare fingerprints by voice or in person before trusting the link:',
        `       this repository: ${fingerprint(me)}`,
        '     theirs: what `git remote-daemon p2p address` prints there',
        '',
      ].join('\n'),
    );
    process.exitCode = 2;
    return;
  }
  let theirs: string;
  if (code === undefined) {
    // We make the code and send first; the other side answers on the same code.
    // The other side needs the same mailbox server: the hint names it when one was given.
    const relayHint = options.relayUrl ? ` --relay-url ${shellQuote(options.relayUrl)}` : '';
    const sent = wormhole([...relay, 'send', '--text', mine], (made) =>
      process.stderr.write(`code: ${made}\non the other repository run:  git remote-daemon p2p pair${relayHint} ${made}\n`),
    );
    const made = await sent.code;
    await sent.done;
    theirs = await wormhole([...relay, 'receive', '--only-text', made]).output;
  } else {
    theirs = await wormhole([...relay, 'receive', '--only-text', code]).output;
    await wormhole([...relay, 'send', '--code', code, '--text', mine]).done;
  }
  const key = keyOf(theirs);
  if (!key) throw new Error(`the other side sent ${JSON.stringify(theirs.slice(0, 100))}, which is not a peer address`);
  if (key === me) throw new Error('the other side has this same address: pair two different repositories');
  const urls = await git(['config', '--get-regexp', '^remote\\..*\\.url$']).catch(() => '');
  const existing = urls.split('\n').find((l) => keyOf(l.split(' ').slice(1).join(' ')) === key);
  if (existing) process.stderr.write(`already a remote: ${existing.split(' ')[0].replace(/^remote\.|\.url$/g, '')}\n`);
  else await git(['remote', 'add', options.name, addressOf(key)]);
  process.stdout.write(`paired with ${addressOf(key)}${existing ? '' : ` (remote ${options.name})`}\n`);
  process.stderr.write(`compare fingerprints with the other side:\n  this repository: ${fingerprint(me)}\n  ${options.name}: ${fingerprint(key)}\n`);
}

function hasWormhole(): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn('wormhole', ['--version'], { stdio: 'ignore' });
    child.on('error', () => resolve(false));
    child.on('exit', (code) => resolve(code === 0));
  });
}

/** Runs wormhole; `code` resolves with the code it made (send without --code), `output` with its stdout. */
function wormhole(args: string[], onCode?: (code: string) => void): { code: Promise<string>; output: Promise<string>; done: Promise<void> } {
  const child = spawn('wormhole', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let gotCode!: (code: string) => void;
  let noCode!: (err: Error) => void;
  const code = new Promise<string>((resolve, reject) => ((gotCode = resolve), (noCode = reject)));
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  createInterface({ input: child.stderr }).on('line', (line) => {
    if (stderr.length < 8192) stderr += `${line}\n`;
    const m = /^Wormhole code is: (\S+)/.exec(line);
    if (m) {
      onCode?.(m[1]);
      gotCode(m[1]);
    }
  });
  const output = new Promise<string>((resolve, reject) => {
    const failed = (why: string) => {
      const err = new Error(
        `wormhole ${args.includes('send') ? 'send' : 'receive'} failed: ${why}; check the network and --relay-url, or pair by hand (git remote-daemon p2p address, then git remote add)`,
      );
      noCode(err); // it ended before making a code: whoever waits for the code learns why
      reject(err);
    };
    child.on('error', (err) => failed(err.message));
    child.on('exit', (status) => (status === 0 ? resolve(stdout.trim()) : failed(stderr.trim().split('\n').at(-1) || `exit code ${status}`)));
  });
  // Each is awaited only on some paths: a failure is said once, through the one awaited.
  for (const promise of [code, output]) promise.catch(() => {});
  const done = output.then(() => {});
  done.catch(() => {});
  return { code, output, done };
}

/** `url` as one shell word, to paste on the other side. */
function shellQuote(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`;
}
