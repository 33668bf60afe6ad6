// A real OpenSSH sshd on loopback for tests: throwaway host key(s), a throwaway client key authorised
// for the plain test user `grd-test`, a known_hosts file, and an `ssh` command line that uses them.
//
//   const sshd = await startSshd();            // ed25519 host key, random free port on 127.0.0.1
//   t.after(() => sshd.dispose());             // stops sshd, kills its sessions, removes its files
//   const repo = await sshd.makeRepoDir();     // a fresh dir in grd-test's home, owned by grd-test
//   await sshd.runAsUser(['git', 'init', '-q', '--bare', `${repo}/r.git`]);
//   git clone with GIT_SSH_COMMAND=sshd.sshCommand from sshd.url(`${repo}/r.git`)
//
// Why a plain user: root's login shell here costs ~100 ms per ssh exec, and with `UsePAM no` a
// user whose password field is `!` (locked) cannot log in even with a key; `*` can.
// Runs as root (sshd needs it); every test process makes its own sshd, port and directory.

import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants as fsConstants, readdirSync, readFileSync, rmSync } from 'node:fs';
import { access, chmod, chown, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { shellQuote } from '../../shared/kit/shell.js';
import { alive } from './procs.js';
import { freePort } from './ports.js';
import { refuseInUnitRun } from './unitrun.js';

const execFileAsync = promisify(execFile);

export const TEST_USER = 'grd-test';
export type HostKeyType = 'ed25519' | 'rsa' | 'ecdsa';

/** This checkout's launcher, which the server-side `git-remote-daemon` wrapper runs. */
export const CHECKOUT_LAUNCHER = resolve(dirname(fileURLToPath(import.meta.url)), '../../../bin/git-remote-daemon');

export interface HostKey {
  type: HostKeyType;
  /** Private key file (root-only). */
  path: string;
  /** The public key line: `ssh-ed25519 AAAA... comment`. */
  publicKey: string;
  /** `SHA256:...` as ssh prints it. */
  fingerprint: string;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

export interface RunAsUserOptions {
  cwd?: string;
  /** Added to a minimal environment (HOME, USER, LOGNAME, PATH). */
  env?: Record<string, string>;
  input?: string;
  timeoutMs?: number;
}

export interface Sshd {
  /** '127.0.0.1' */
  host: string;
  port: number;
  /** 'grd-test' */
  user: string;
  uid: number;
  gid: number;
  /** The test user's home; put remote repos below makeRepoDir(), never directly here. */
  home: string;
  /** The harness directory (keys, config, log, known_hosts); 0755 so the test user can read it. */
  dir: string;
  /** Private key (no passphrase) authorised for `user`. */
  clientKey: string;
  /** Its public key line. */
  clientPublicKey: string;
  /** known_hosts holding every host key of this server as `[127.0.0.1]:port`. */
  knownHosts: string;
  /** The host keys, first one is the primary. */
  hostKeys: HostKey[];
  /** Fingerprint of the first host key. */
  hostKeyFingerprint: string;
  /** Extra dirs first on PATH for server sessions (`serverPath` + the generated server bin, if any). */
  serverPath: string[];
  /**
   * An `ssh ...` command line for GIT_SSH_COMMAND / core.sshCommand (the port comes from the URL):
   * no user config, only clientKey, only this knownHosts, no prompts.
   */
  sshCommand: string;
  /** The same as an argv (for spawning ssh without a shell). */
  sshArgs: string[];
  /** `ssh://grd-test@127.0.0.1:PORT<path>`; `path` should be absolute. */
  url(path: string): string;
  /** A fresh directory under `home`, owned by the test user, removed by dispose(). */
  makeRepoDir(): Promise<string>;
  /** Runs argv (no shell) as the test user; rejects with its stderr on non-zero exit. */
  runAsUser(argv: string[], opts?: RunAsUserOptions): Promise<RunResult>;
  /** Connections that authenticated so far ("Accepted publickey" lines in the log, across restarts). */
  authenticatedCount(): Promise<number>;
  /** The sshd log so far. */
  log(): Promise<string>;
  /** PIDs of the live per-connection sshd processes (children of the listener). */
  connectionPids(): number[];
  /** Kills every live connection (and what it runs) but keeps the server listening. */
  dropConnections(): Promise<void>;
  /**
   * SIGSTOPs every live connection and what it runs, as a link that stalls without closing looks
   * from the client (the kernel still ACKs, nothing answers). thaw() resumes them.
   */
  freezeConnections(): number[];
  thaw(pids: number[]): void;
  /** Stops the server and kills its connections; keys and files stay. Idempotent. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same keys (no-op when running). */
  start(): Promise<void>;
  /** stop() and remove everything the harness made (dir, repo dirs). Idempotent. */
  dispose(): Promise<void>;
}

export interface StartSshdOptions {
  /** Host key type(s); the first is primary. Default 'ed25519'. */
  hostKeyType?: HostKeyType | HostKeyType[];
  /** More sshd_config: global lines override the harness's (they go first); Match blocks go last. */
  extraConfig?: string;
  /** Dirs put first on PATH for sessions on the server (sshd `SetEnv PATH=...`). */
  serverPath?: string[];
  /**
   * Write a bin dir in the harness dir and put it first on the server's PATH: a `git-remote-daemon`
   * wrapper running this checkout's bin/git-remote-daemon (when `gitRemoteDaemon` is true), plus
   * the given shims (name -> script text, e.g. a `git-annex-shell` stand-in).
   */
  serverBin?: { gitRemoteDaemon?: boolean; shims?: Record<string, string> };
}

/** Starts a throwaway sshd; always pair it with `t.after(() => sshd.dispose())`. */
export async function startSshd(opts: StartSshdOptions = {}): Promise<Sshd> {
  refuseInUnitRun('startSshd');
  const account = await ensureTestUser();
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const dir = await mkdtemp(join(tmpdir(), 'grd-sshd-'));
  await chmod(dir, 0o755); // sshd reads AuthorizedKeysFile as the user; server bin must be reachable
  const harness = new Harness(dir, account, opts);
  try {
    await harness.prepare();
    await harness.start();
  } catch (err) {
    await harness.dispose();
    throw err;
  }
  return harness.api();
}

/**
 * Writes `dir/git-remote-daemon` (a wrapper running this checkout's launcher), a symlink
 * `dir/git-remote-daemon-shell` to the checkout's restricted shell (a symlink, as npm installs it:
 * the shell finds its notifier through it, and a wrapper would add its own start to every
 * measurement) and the given shims, executable by everyone, and checks the test user can run
 * them. Returns `dir`.
 */
export async function writeServerBin(
  dir: string,
  opts: { gitRemoteDaemon?: boolean; shims?: Record<string, string> } = { gitRemoteDaemon: true },
): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await chmod(dir, 0o755);
  const scripts: Record<string, string> = { ...opts.shims };
  const account = await ensureTestUser();
  if (opts.gitRemoteDaemon) {
    const launcher = await launcherFor(account);
    scripts['git-remote-daemon'] = `#!/bin/sh\nexec ${shellQuote(launcher)} "$@"\n`;
    await rm(join(dir, 'git-remote-daemon-shell'), { force: true });
    await symlink(join(dirname(launcher), 'git-remote-daemon-shell'), join(dir, 'git-remote-daemon-shell'));
    await runAs(account, ['test', '-x', join(dir, 'git-remote-daemon-shell')], {}).catch(() => {
      throw new Error(`writeServerBin: the test user ${TEST_USER} cannot execute ${join(dir, 'git-remote-daemon-shell')}`);
    });
  }
  for (const [name, text] of Object.entries(scripts)) {
    if (!/^[\w.+-]+$/.test(name)) throw new Error(`writeServerBin: bad script name ${JSON.stringify(name)}`);
    const path = join(dir, name);
    await writeFile(path, text, { mode: 0o755 });
    await chmod(path, 0o755);
  }
  for (const name of Object.keys(scripts)) {
    try {
      await runAs(account, ['test', '-x', join(dir, name)], {});
    } catch {
      throw new Error(`writeServerBin: the test user ${TEST_USER} cannot execute ${join(dir, name)}; make its parent dirs world-searchable`);
    }
  }
  return dir;
}

let readableInstall: Promise<string> | undefined;

/**
 * The launcher the test user runs on the "server". The checkout's own when that user can reach it;
 * otherwise (a checkout under a private directory, as a CI clone may be) a world-readable copy of
 * what the server side needs, made once per test process and removed when it exits.
 */
async function launcherFor(account: Account): Promise<string> {
  const built = resolve(dirname(CHECKOUT_LAUNCHER), '../dist/src/cli.js');
  const reachable = await runAs(account, ['test', '-x', CHECKOUT_LAUNCHER], {})
    .then(() => runAs(account, ['test', '-r', built], {}))
    .then(() => true, () => false);
  if (reachable) return CHECKOUT_LAUNCHER;
  readableInstall ??= (async () => {
    const root = resolve(dirname(CHECKOUT_LAUNCHER), '..');
    const copy = await mkdtemp(join(tmpdir(), 'grd-server-install-'));
    process.on('exit', () => rmSync(copy, { recursive: true, force: true }));
    await mkdir(join(copy, 'dist'), { recursive: true });
    await mkdir(join(copy, 'workers', 'ssh'), { recursive: true });
    const copies: [string, string][] = [
      ['bin', 'bin'],
      ['package.json', 'package.json'],
      ['node_modules', 'node_modules'],
      ['dist/shared', 'dist/shared'],
      ['dist/src', 'dist/src'],
      ['dist/workers', 'dist/workers'],
      ['workers/ssh/git-ssh-tunnel.sh', 'workers/ssh/git-ssh-tunnel.sh'],
    ];
    for (const [from, to] of copies) await execFileAsync('cp', ['-R', join(root, from), join(copy, to)]);
    await rm(join(copy, 'node_modules', 'typescript'), { recursive: true, force: true });
    await execFileAsync('chmod', ['-R', 'a+rX', copy]);
    return copy;
  })();
  const launcher = join(await readableInstall, 'bin', 'git-remote-daemon');
  await runAs(account, ['test', '-x', launcher], {}).catch(() => {
    throw new Error(`writeServerBin: the test user ${TEST_USER} cannot run ${launcher}; is ${tmpdir()} world-searchable?`);
  });
  return launcher;
}

/** Generates a key pair with no passphrase at `path` (and `path.pub`); returns the public line. */
export async function generateKey(path: string, type: HostKeyType = 'ed25519', comment = 'grd-test'): Promise<string> {
  const bits = type === 'rsa' ? ['-b', '2048'] : type === 'ecdsa' ? ['-b', '256'] : [];
  await execFileAsync('ssh-keygen', ['-q', '-t', type, ...bits, '-N', '', '-C', comment, '-f', path]);
  return (await readFile(`${path}.pub`, 'utf8')).trim();
}

/** `SHA256:<base64 without padding>` of a public key line, as ssh prints it. */
export function fingerprintOf(publicKeyLine: string): string {
  const blob = Buffer.from(publicKeyLine.trim().split(/\s+/)[1] ?? '', 'base64');
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

interface Account {
  uid: number;
  gid: number;
  home: string;
}

/**
 * Makes sure `grd-test` exists with shell /bin/sh and an unlocked (`*`) password. Two test processes
 * may race here: useradd/usermod fail while the other holds the passwd lock, so retry until the
 * account looks right.
 */
export async function ensureTestUser(): Promise<Account> {
  const deadline = Date.now() + 15_000;
  let lastError = '';
  for (;;) {
    const account = await lookupAccount();
    if (account && account.unlocked) return account;
    try {
      if (!account) await execFileAsync('useradd', ['-m', '-s', '/bin/sh', TEST_USER]);
      await execFileAsync('usermod', ['-p', '*', TEST_USER]);
    } catch (err) {
      lastError = String((err as { stderr?: string }).stderr || err);
    }
    if (Date.now() > deadline) throw new Error(`could not create the test user ${TEST_USER}: ${lastError}`);
    await new Promise((r) => setTimeout(r, 50 + Math.random() * 100)); // back off from the other racer
  }
}

async function lookupAccount(): Promise<(Account & { unlocked: boolean }) | undefined> {
  const passwd = await readFile('/etc/passwd', 'utf8');
  const line = passwd.split('\n').find((l) => l.startsWith(`${TEST_USER}:`));
  if (!line) return undefined;
  const [, , uid, gid, , home] = line.split(':');
  const shadow = await readFile('/etc/shadow', 'utf8').catch(() => '');
  const shadowLine = shadow.split('\n').find((l) => l.startsWith(`${TEST_USER}:`));
  const password = shadowLine?.split(':')[1] ?? '';
  let homeOk = true;
  try {
    await access(home!, fsConstants.X_OK);
  } catch {
    homeOk = false;
  }
  return { uid: Number(uid), gid: Number(gid), home: home!, unlocked: homeOk && !password.startsWith('!') };
}

async function runAs(account: Account, argv: string[], opts: RunAsUserOptions): Promise<RunResult> {
  const [file, ...args] = argv;
  if (!file) throw new Error('runAsUser: empty argv');
  const env = {
    HOME: account.home,
    USER: TEST_USER,
    LOGNAME: TEST_USER,
    PATH: '/usr/local/bin:/usr/bin:/bin',
    GIT_CONFIG_NOSYSTEM: '1',
    ...opts.env,
  };
  const child = execFileAsync(file, args, {
    cwd: opts.cwd ?? account.home,
    env,
    uid: account.uid,
    gid: account.gid,
    timeout: opts.timeoutMs ?? 30_000,
    maxBuffer: 64 * 1024 * 1024,
    encoding: 'utf8',
  });
  if (opts.input !== undefined) child.child.stdin?.end(opts.input);
  try {
    const { stdout, stderr } = await child;
    return { stdout, stderr };
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`as ${TEST_USER}: ${argv.join(' ')} failed: ${e.stderr || e.message}`);
  }
}

class Harness {
  private process: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private watchdog: ChildProcess | undefined;
  private port = 0;
  private hostKeys: HostKey[] = [];
  private clientPublicKey = '';
  private serverPath: string[];
  private repoDirs: string[] = [];
  private disposed = false;
  readonly logPath: string;
  readonly configPath: string;
  readonly clientKey: string;
  readonly knownHosts: string;

  constructor(readonly dir: string, readonly account: Account, readonly opts: StartSshdOptions) {
    this.logPath = join(dir, 'sshd.log');
    this.configPath = join(dir, 'sshd_config');
    this.clientKey = join(dir, 'client_key');
    this.knownHosts = join(dir, 'known_hosts');
    this.serverPath = [...(opts.serverPath ?? [])];
  }

  async prepare(): Promise<void> {
    const types = ([] as HostKeyType[]).concat(this.opts.hostKeyType ?? 'ed25519');
    const [clientPublic, ...hostPublics] = await Promise.all([
      generateKey(this.clientKey, 'ed25519', 'grd-test-client'),
      ...types.map((type) => generateKey(join(this.dir, `host_${type}_key`), type, 'grd-test-host')),
    ]);
    this.clientPublicKey = clientPublic!;
    this.hostKeys = types.map((type, i) => ({
      type,
      path: join(this.dir, `host_${type}_key`),
      publicKey: hostPublics[i]!,
      fingerprint: fingerprintOf(hostPublics[i]!),
    }));
    await writeFile(join(this.dir, 'authorized_keys'), `${clientPublic}\n`, { mode: 0o644 });
    if (this.opts.serverBin) {
      this.serverPath.unshift(await writeServerBin(join(this.dir, 'server-bin'), this.opts.serverBin));
    }
    for (const p of this.serverPath) {
      if (/[\s"'\\]/.test(p) || !p.startsWith('/')) throw new Error(`startSshd: serverPath entries must be absolute, without spaces or quotes: ${p}`);
    }
  }

  private config(): string {
    const path = [...this.serverPath, '/usr/local/bin', '/usr/bin', '/bin'].join(':');
    // sshd keeps the first value it reads for a keyword: extra settings go first so they override
    // ours; Match blocks must come last.
    const extra = this.opts.extraConfig ?? '';
    const matchAt = extra.search(/^\s*Match\s/im);
    const extraGlobal = matchAt < 0 ? extra : extra.slice(0, matchAt);
    const extraMatch = matchAt < 0 ? '' : extra.slice(matchAt);
    return [
      extraGlobal,
      `ListenAddress 127.0.0.1:${this.port}`,
      ...this.hostKeys.map((k) => `HostKey ${k.path}`),
      'PidFile none',
      'UsePAM no',
      'StrictModes no',
      `AuthorizedKeysFile ${join(this.dir, 'authorized_keys')}`,
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin no',
      `AllowUsers ${TEST_USER}`,
      'LogLevel VERBOSE',
      'AcceptEnv GIT_PROTOCOL',
      `SetEnv PATH=${path}`,
      'PrintMotd no',
      'PrintLastLog no',
      'UseDNS no',
      'X11Forwarding no',
      extraMatch,
      '',
    ].join('\n');
  }

  async start(): Promise<void> {
    if (this.disposed) throw new Error('sshd harness was disposed');
    if (this.process) return;
    const firstStart = this.port === 0;
    const deadline = Date.now() + 20_000;
    for (let attempt = 0; ; attempt++) {
      if (firstStart) this.port = await freePort();
      await writeFile(this.configPath, this.config());
      if (firstStart) {
        const lines = this.hostKeys.map((k) => `[127.0.0.1]:${this.port} ${k.publicKey.split(/\s+/).slice(0, 2).join(' ')}`);
        await writeFile(this.knownHosts, lines.join('\n') + '\n', { mode: 0o644 });
      }
      const error = await this.launch();
      if (!error) return;
      // Lost a port race (first start) or the old socket is not free yet (restart): try again.
      if (/Address already in use|Cannot bind/i.test(error) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20 * (attempt + 1)));
        continue;
      }
      throw new Error(`sshd failed to start: ${error}`);
    }
  }

  /** Spawns sshd and waits for "Server listening"; returns an error text if it exited instead. */
  private async launch(): Promise<string | undefined> {
    const logStart = (await readFile(this.logPath, 'utf8').catch(() => '')).length;
    const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', this.configPath, '-E', this.logPath], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    let exitedEarly = false;
    const exited = new Promise<void>((r) => child.once('exit', () => ((exitedEarly = true), r())));
    child.once('error', (err) => (stderr += String(err)));
    const ready = `Server listening on 127.0.0.1 port ${this.port}.`;
    const deadline = Date.now() + 10_000;
    for (;;) {
      const log = (await readFile(this.logPath, 'utf8').catch(() => '')).slice(logStart);
      if (log.includes(ready) && !exitedEarly) {
        this.process = child;
        this.exited = exited;
        this.watchdog = startWatchdog(child.pid!);
        liveHarnesses.add(this);
        return undefined;
      }
      if (exitedEarly) return (stderr + log).trim() || 'sshd exited';
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        await exited;
        return `timed out waiting for "${ready}": ${(stderr + log).trim()}`;
      }
      await new Promise((r) => setTimeout(r, 5)); // poll the log for the ready line
    }
  }

  connectionPids(): number[] {
    return this.process?.pid ? childrenOf(this.process.pid, processTable()) : [];
  }

  async dropConnections(): Promise<void> {
    if (this.process?.pid) await killTrees(this.connectionPids());
  }

  async stop(): Promise<void> {
    const child = this.process;
    if (!child?.pid) return;
    this.watchdog?.kill('SIGKILL');
    this.watchdog = undefined;
    liveHarnesses.delete(this);
    // Freeze the listener so it forks no new connection while we collect and kill the existing ones.
    child.kill('SIGSTOP');
    await killTrees(childrenOf(child.pid, processTable()));
    child.kill('SIGKILL');
    await this.exited;
    this.process = undefined;
    this.exited = undefined;
  }

  /** Synchronous last resort when the test process exits without dispose(): kill and remove. */
  killNow(): void {
    const pid = this.process?.pid;
    if (!pid) return;
    signal(pid, 'SIGSTOP');
    for (const p of descendantsOf([pid], processTable())) signal(p, 'SIGKILL');
    this.process = undefined;
    for (const p of [this.dir, ...this.repoDirs]) rmSync(p, { recursive: true, force: true });
  }

  async makeRepoDir(): Promise<string> {
    const path = await mkdtemp(join(this.account.home, 'grd-repo-'));
    await chown(path, this.account.uid, this.account.gid);
    await chmod(path, 0o755);
    this.repoDirs.push(path);
    return path;
  }

  async log(): Promise<string> {
    return readFile(this.logPath, 'utf8').catch(() => '');
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    await this.stop();
    this.disposed = true;
    await Promise.all([this.dir, ...this.repoDirs].map((p) => rm(p, { recursive: true, force: true })));
  }

  api(): Sshd {
    const sshArgs = [
      'ssh',
      '-F', '/dev/null',
      '-i', this.clientKey,
      '-o', `UserKnownHostsFile=${this.knownHosts}`,
      '-o', 'GlobalKnownHostsFile=/dev/null',
      '-o', 'StrictHostKeyChecking=yes',
      '-o', 'IdentitiesOnly=yes',
      '-o', 'IdentityAgent=none',
      '-o', 'BatchMode=yes',
      '-o', 'LogLevel=ERROR',
    ];
    const host = '127.0.0.1';
    const port = this.port;
    return {
      host,
      port,
      user: TEST_USER,
      uid: this.account.uid,
      gid: this.account.gid,
      home: this.account.home,
      dir: this.dir,
      clientKey: this.clientKey,
      clientPublicKey: this.clientPublicKey,
      knownHosts: this.knownHosts,
      hostKeys: this.hostKeys,
      hostKeyFingerprint: this.hostKeys[0]!.fingerprint,
      serverPath: this.serverPath,
      sshCommand: sshArgs.map(shellQuote).join(' '),
      sshArgs,
      url: (path: string) => `ssh://${TEST_USER}@${host}:${port}${path.startsWith('/') ? '' : '/'}${path}`,
      makeRepoDir: () => this.makeRepoDir(),
      runAsUser: (argv, opts) => runAs(this.account, argv, opts ?? {}),
      authenticatedCount: async () => ((await this.log()).match(/Accepted publickey for /g) ?? []).length,
      log: () => this.log(),
      connectionPids: () => this.connectionPids(),
      dropConnections: () => this.dropConnections(),
      freezeConnections: () => {
        const pids = descendantsOf(this.connectionPids(), processTable());
        for (const pid of pids) signal(pid, 'SIGSTOP');
        return pids;
      },
      thaw: (pids) => {
        for (const pid of pids) signal(pid, 'SIGCONT');
      },
      stop: () => this.stop(),
      start: () => this.start(),
      dispose: () => this.dispose(),
    };
  }
}

// If a test process dies without dispose() (a crash, process.exit, a runner timeout), its sshd
// must not outlive it: kill what is left on exit, and keep a watchdog that does the same when
// this process is killed outright (its stdin pipe reaches EOF then).
const liveHarnesses = new Set<Harness>();
process.once('exit', () => {
  for (const h of liveHarnesses) h.killNow();
});

function startWatchdog(pid: number): ChildProcess {
  const script = 'read _ ; kill -STOP "$1" 2>/dev/null; pkill -KILL -P "$1"; kill -KILL "$1" 2>/dev/null';
  const watchdog = spawn('/bin/sh', ['-c', script, 'sshd-watchdog', String(pid)], { stdio: ['pipe', 'ignore', 'ignore'] });
  watchdog.on('error', () => {});
  watchdog.unref();
  (watchdog.stdin as unknown as { unref(): void }).unref();
  return watchdog;
}

/** pid -> parent pid, from /proc (read synchronously: one snapshot, as consistent as /proc allows). */
function processTable(): Map<number, number> {
  const table = new Map<number, number>();
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return table;
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // The command name may contain spaces and parentheses: the fields follow the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      table.set(Number(name), Number(fields[1]));
    } catch {
      // gone meanwhile
    }
  }
  return table;
}

function childrenOf(pid: number, table: Map<number, number>): number[] {
  return [...table].filter(([, ppid]) => ppid === pid).map(([p]) => p);
}

function descendantsOf(roots: number[], table: Map<number, number>): number[] {
  const all = new Set<number>();
  const queue = [...roots];
  while (queue.length) {
    const pid = queue.pop()!;
    if (all.has(pid)) continue;
    all.add(pid);
    queue.push(...childrenOf(pid, table));
  }
  return [...all];
}

/**
 * Kills the given processes and everything below them. Stops them first, top-down until the set
 * stops growing, so that none can fork a child that escapes to init between listing and killing.
 */
async function killTrees(roots: number[]): Promise<void> {
  let known = new Set<number>();
  // Every process stopped in any round: one whose parent exited meanwhile is no longer below the
  // roots (init has it), and left stopped it would never end.
  const stopped = new Set<number>();
  for (let round = 0; round < 20; round++) {
    const all = descendantsOf(roots, processTable());
    for (const pid of all) {
      signal(pid, 'SIGSTOP');
      stopped.add(pid);
    }
    if (all.length === known.size && all.every((p) => known.has(p))) break;
    known = new Set(all);
  }
  for (const pid of stopped) signal(pid, 'SIGKILL');
  // Wait until they are gone (reaped by sshd's listener or by init), so ports and files are free.
  const deadline = Date.now() + 5_000;
  while ([...stopped].some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

