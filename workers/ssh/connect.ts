// One ssh2 connection made as OpenSSH would make it for the same host: settings from `ssh -G`
// (config.ts), host key checked against known_hosts (knownhosts.ts), keys tried in OpenSSH's order,
// keepalive, ProxyJump through the jump host's own ssh2 connection.
//
// Errors the caller must tell apart (all exported):
//   HostKeyError         unknown / changed / revoked host key: warn, do not retry until the user acts
//   UnsupportedSetting   e.g. ProxyCommand: ssh2 cannot connect the way the user configured
//   AuthenticationError  no key was accepted
//   SshCommandError      (from config.ts) the user's ssh command or `ssh -G` failed
// Anything else (refused, timed out, reset) is a network error worth retrying.

import { connect as netConnect, type Socket } from 'node:net';
import { readFile } from 'node:fs/promises';
import ssh2, { type Client, type ConnectConfig, type ParsedKey, type AnyAuthMethod, type AuthenticationType, type OpenSSHAgent as OpenSSHAgentType } from 'ssh2';

// ssh2 is CommonJS: its classes come from the default export under ESM.
const { Client: SshClient, OpenSSHAgent, BaseAgent, utils } = ssh2;
import { resolveSshSettings, parseSshCommand, splitHostPort, type ResolvedSettings, type SshTarget } from './config.js';
import { shellQuote } from '../../shared/kit/shell.js';
import { withDeadline } from '../../shared/kit/deadline.js';
import { addKnownHost, checkHostKey, fingerprint, hostKeyAlgorithmsFor, knownHostsName, loadKnownHosts, type KnownHostEntry } from './knownhosts.js';
import type { Duplex } from 'node:stream';
import { startKeepalive, type Keepalive, type KeepaliveRide, type KeepaliveTiming } from './keepalive.js';

export class HostKeyError extends Error {
  override name = 'HostKeyError';
  constructor(
    message: string,
    /** The name looked up in known_hosts (`[host]:port`, or the HostKeyAlias). */
    readonly host: string,
    /** Fingerprint of the key the server presented. */
    readonly fingerprint: string,
    readonly reason: 'unknown' | 'changed' | 'revoked',
    /** For `changed`: the fingerprints known_hosts holds for the host. */
    readonly knownFingerprints: string[] = [],
  ) {
    super(message);
  }
}

export class UnsupportedSetting extends Error {
  override name = 'UnsupportedSetting';
  constructor(
    message: string,
    /** The settings, each as `name value`. */
    readonly settings: string[],
  ) {
    super(message);
  }
}

export class AuthenticationError extends Error {
  override name = 'AuthenticationError';
  constructor(
    message: string,
    /** Why keys were skipped (passphrase without agent, unreadable files...), also in the message. */
    readonly warnings: string[] = [],
  ) {
    super(message);
  }
}

export interface SshConnection {
  client: Client;
  settings: ResolvedSettings;
  /** Things the user should hear about once (unsupported settings, skipped keys, a changed key accepted with StrictHostKeyChecking=no). */
  warnings: string[];
  /** Which identity authenticated: `agent <fingerprint>` or `file <path>`. */
  authenticatedWith?: string;
  /** Ends the connection (and the jump connection under it); resolves once closed. Idempotent. */
  close(): Promise<void>;
  /** Resolves when the connection is over: undefined after close(), the reason when it was lost. */
  closed: Promise<Error | undefined>;
  /** How long a link that carries nothing at all may last before keepalive gives up on it. */
  stallDetectMs: number;
  /** The keepalive, for work that rides on its wake-ups (the notifier's PING). */
  keepalive: KeepaliveRide;
}

export interface ConnectOptions {
  /** `core.sshCommand` / `GIT_SSH_COMMAND`, as the user wrote it. */
  sshCommand?: string;
  signal?: AbortSignal;
  /** Environment for `ssh -G` and SSH_AUTH_SOCK. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Detail for the daemon's log (which key was accepted, jump hops...). */
  log?: (text: string) => void;
}

/** Settings ssh2 cannot connect without honouring: refuse rather than connect some other way. */
const FATAL_SETTINGS = /^(proxycommand|proxyusefdpass) /;
/** Jump chains longer than this are a loop in the user's config (ssh would loop forever). */
const MAX_JUMP_DEPTH = 8;

/**
 * Connects to `target` as OpenSSH would, given the user's ssh command. Resolves once authenticated.
 * Rejects with HostKeyError, UnsupportedSetting, AuthenticationError, SshCommandError, or a network
 * error; with an AbortError when `signal` aborts.
 */
export async function connectSsh(target: SshTarget, opts: ConnectOptions = {}): Promise<SshConnection> {
  return connectAtDepth(target, opts, 0);
}

async function connectAtDepth(target: SshTarget, opts: ConnectOptions, depth: number): Promise<SshConnection> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? (() => {});
  opts.signal?.throwIfAborted();
  const { settings, warnings } = await resolveSettings(target, opts, env);
  const hostKeys = await loadHostKeys(settings);
  const auth = await authMethods(settings, env, warnings);
  opts.signal?.throwIfAborted();
  const opened = settings.proxyJump ? await openThroughJump(target, settings, opts, env, depth, warnings, log) : openDirect(settings);
  const handshaken = await handshake(opened, settings, hostKeys, auth, warnings, opts.signal, log);
  log(`ssh: connected to ${settings.user}@${settings.hostname}:${settings.port} with ${handshaken.authenticatedWith}`);
  return wrapConnection(handshaken, opened, settings, warnings);
}

/** `ssh -G`'s settings for the target, refused when ssh2 cannot honour them; warnings start here. */
async function resolveSettings(target: SshTarget, opts: ConnectOptions, env: NodeJS.ProcessEnv): Promise<{ settings: ResolvedSettings; warnings: string[] }> {
  const settings = await resolveSshSettings(target, { sshCommand: opts.sshCommand, env, signal: opts.signal });
  const fatal = settings.unsupported.filter((s) => FATAL_SETTINGS.test(s));
  if (fatal.length) {
    throw new UnsupportedSetting(`ssh setting not supported for ${target.host}: ${fatal.join('; ')} (use ProxyJump instead of ProxyCommand)`, fatal);
  }
  const warnings = settings.unsupported.map((s) => `ssh setting ignored for ${target.host}: ${s}`);
  return { settings, warnings };
}

/** What known_hosts says about the target, as the host key check needs it. */
interface HostKeys {
  files: string[];
  entries: KnownHostEntry[];
  /** The name looked up in known_hosts (`[host]:port`, or the HostKeyAlias). */
  hostName: string;
  /** The key algorithms to ask for: those known_hosts holds for the host, if any. */
  serverHostKey: string[] | undefined;
}

async function loadHostKeys(settings: ResolvedSettings): Promise<HostKeys> {
  const files = [...settings.userKnownHostsFiles, ...settings.globalKnownHostsFiles];
  const entries = await loadKnownHosts(files);
  const hostName = knownHostsName(settings.hostname, settings.port, settings.hostKeyAlias);
  return { files, entries, hostName, serverHostKey: hostKeyAlgorithmsFor(entries, hostName) };
}

/** The stream the handshake runs over, and how long it may take. */
interface OpenedStream {
  sock: Socket | Duplex;
  /** What is left of ConnectTimeout for the handshake (ssh2's readyTimeout). */
  readyTimeout: number;
  /** The jump host's connection the stream goes through, with ProxyJump. */
  jump?: SshConnection;
}

function connectTimeoutMs(settings: ResolvedSettings): number {
  return (settings.connectTimeout ?? 20) * 1000;
}

function openDirect(settings: ResolvedSettings): OpenedStream {
  const sock = netConnect({
    host: settings.hostname,
    port: settings.port,
    family: settings.addressFamily === 'inet' ? 4 : settings.addressFamily === 'inet6' ? 6 : 0,
    localAddress: settings.bindAddress,
    // ssh2 leaves Nagle on: every request/response would wait tens of ms.
    noDelay: true,
    keepAlive: true,
  });
  return { sock, readyTimeout: connectTimeoutMs(settings) };
}

/**
 * ProxyJump: the jump host gets its own connection, resolved from the same config file (as `ssh -J`
 * does: only -F is passed on), and the target is reached through a direct-tcpip channel.
 */
async function openThroughJump(
  target: SshTarget,
  settings: ResolvedSettings,
  opts: ConnectOptions,
  env: NodeJS.ProcessEnv,
  depth: number,
  warnings: string[],
  log: (text: string) => void,
): Promise<OpenedStream> {
  const proxyJump = settings.proxyJump!;
  if (depth >= MAX_JUMP_DEPTH) throw new UnsupportedSetting(`ProxyJump chain longer than ${MAX_JUMP_DEPTH} for ${target.host}: a loop?`, [`proxyjump ${proxyJump}`]);
  const hops = proxyJump.split(',');
  const last = parseJumpHost(hops.pop()!);
  const configFile = configFileOption(opts.sshCommand, env);
  const jumpCommand = ['ssh', ...configFile, ...(hops.length ? ['-J', hops.join(',')] : ['-o', 'ProxyJump=none'])]
    .map(shellQuote)
    .join(' ');
  // This host's ConnectTimeout bounds the whole way to it, as OpenSSH's does (it waits that long
  // for the banner from its ProxyJump proxy): the jump host's connect, the forwarding (the jump
  // host's TCP connect to a blackholed target would otherwise last the kernel's ~2 min) and then
  // the handshake, which gets what is left.
  const timeoutMs = connectTimeoutMs(settings);
  const started = Date.now();
  const deadline = withDeadline(
    opts.signal,
    timeoutMs,
    () => new Error(`ssh to ${settings.hostname}:${settings.port}: Timed out after ${timeoutMs / 1000} s reaching it through ${proxyJump} (ConnectTimeout)`),
  );
  const signal = deadline.signal;
  let jump: SshConnection | undefined;
  let sock: Duplex;
  try {
    jump = await connectAtDepth(last, { ...opts, sshCommand: jumpCommand, signal }, depth + 1);
    warnings.push(...jump.warnings);
    log(`ssh: reaching ${settings.hostname}:${settings.port} through ${jump.settings.hostname}:${jump.settings.port}`);
    sock = await forwardOut(jump.client, settings.hostname, settings.port, signal);
    // From here to the handshake's abort listener nothing awaits: an abort cannot slip between.
    signal.throwIfAborted();
  } catch (err) {
    // Closing the jump connection also closes a channel that is still being opened.
    await jump?.close();
    throw err;
  } finally {
    deadline.clear();
  }
  // ssh2 takes a readyTimeout of 0 as none.
  return { sock, jump, readyTimeout: Math.max(1, timeoutMs - (Date.now() - started)) };
}

/** What the handshake learns as it goes: why the host key was refused, which identity was offered last. */
interface HandshakeNotes {
  hostKeyFailure?: HostKeyError;
  authenticatedWith?: string;
}

/** The link's end as it is found out: closed by us, stalled, or the error that ended it. */
interface LinkEnd {
  closing: boolean;
  stalled: boolean;
  /** How long nothing had been heard when the link was found stalled. */
  silentMs?: number;
  lastError?: Error;
}

interface Handshaken {
  client: Client;
  authenticatedWith: string | undefined;
  keepalive: Keepalive;
  timing: KeepaliveTiming;
  end: LinkEnd;
  clientClosed: Promise<void>;
}

/** The ssh handshake over the opened stream: host key checked, authenticated, keepalive started. */
async function handshake(
  opened: OpenedStream,
  settings: ResolvedSettings,
  hostKeys: HostKeys,
  auth: AuthAttempt[],
  warnings: string[],
  signal: AbortSignal | undefined,
  log: (text: string) => void,
): Promise<Handshaken> {
  const { sock, jump } = opened;
  const client = new SshClient();
  const notes: HandshakeNotes = {};
  const config = handshakeConfig(opened, settings, hostKeys, auth, warnings, notes, log);
  const ready = readyOrWhyNot(client, sock, settings, signal, notes, warnings, auth.map((a) => a.label));
  const timing = keepaliveTiming(settings);
  // Lifetime listeners go on before connecting, so no event can slip past them.
  const end: LinkEnd = { closing: false, stalled: false };
  client.on('error', (err: Error) => (end.lastError ??= err));
  const clientClosed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  client.connect(config);
  let keepalive: Keepalive;
  try {
    await ready;
    keepalive = startKeepalive(client, sock, timing, (silentMs) => {
      end.stalled = true;
      end.silentMs = silentMs;
      sock.destroy(); // the client's 'close' follows
    });
  } catch (err) {
    client.end();
    sock.destroy();
    await jump?.close();
    throw err;
  }
  return { client, authenticatedWith: notes.authenticatedWith, keepalive, timing, end, clientClosed };
}

function handshakeConfig(
  opened: OpenedStream,
  settings: ResolvedSettings,
  hostKeys: HostKeys,
  auth: AuthAttempt[],
  warnings: string[],
  notes: HandshakeNotes,
  log: (text: string) => void,
): ConnectConfig {
  const { serverHostKey, hostName } = hostKeys;
  return {
    sock: opened.sock as ConnectConfig['sock'],
    host: settings.hostname,
    port: settings.port,
    username: settings.user,
    readyTimeout: opened.readyTimeout,
    // ssh2's own keepalive stays off: workers/ssh/keepalive.ts pings only after silence.
    keepaliveInterval: 0,
    algorithms: serverHostKey ? { serverHostKey: serverHostKey as NonNullable<ConnectConfig['algorithms']>['serverHostKey'] } : undefined,
    hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
      verifyHostKey(key, hostKeys, settings, warnings, log).then(
        (ok) => verify(ok),
        (err: unknown) => {
          notes.hostKeyFailure ??= err instanceof HostKeyError ? err : new HostKeyError(String(err), hostName, fingerprint(key), 'unknown');
          verify(false);
        },
      );
    },
    authHandler: (_methodsLeft: AuthenticationType[], _partial: boolean, next: (m: AnyAuthMethod | false) => void) => {
      const method = auth.shift();
      if (!method) return next(false);
      notes.authenticatedWith = method.label;
      next(method.method);
    },
  } as ConnectConfig;
}

async function verifyHostKey(key: Buffer, hostKeys: HostKeys, settings: ResolvedSettings, warnings: string[], log: (text: string) => void): Promise<boolean> {
  const { entries, hostName } = hostKeys;
  const check = checkHostKey(entries, hostName, key);
  for (const note of check.notes) warnings.push(note);
  const fp = fingerprint(key);
  const files = hostKeys.files.join(', ') || '(no known_hosts files)';
  switch (check.status) {
    case 'match':
      return true;
    case 'revoked':
      throw new HostKeyError(
        `host key for ${hostName} is REVOKED (${fp}, ${check.entry.file}:${check.entry.line}): refusing to connect`,
        hostName,
        fp,
        'revoked',
      );
    case 'mismatch':
      if (settings.strictHostKeyChecking === 'no') {
        warnings.push(`host key for ${hostName} has CHANGED to ${fp} (known: ${check.knownFingerprints.join(', ')}); connecting anyway because StrictHostKeyChecking=no`);
        return true;
      }
      throw new HostKeyError(
        `host key for ${hostName} has CHANGED: the server presented ${fp}, but ${check.entries.map((e) => `${e.file}:${e.line}`).join(', ')} ` +
          `holds ${check.knownFingerprints.join(', ')}. If the change is expected, remove the old key (ssh-keygen -R '${hostName}') and connect once with ssh`,
        hostName,
        fp,
        'changed',
        check.knownFingerprints,
      );
    case 'unknown': {
      if (settings.strictHostKeyChecking === 'yes') {
        throw new HostKeyError(
          `host key for ${hostName} is not known (${fp}; looked in ${files}). Verify it and connect once with ssh, ` +
            `or set StrictHostKeyChecking accept-new`,
          hostName,
          fp,
          'unknown',
        );
      }
      const file = settings.userKnownHostsFiles[0];
      if (file) {
        await addKnownHost(file, hostName, key, settings.hashKnownHosts);
        log(`ssh: added ${hostName} (${fp}) to ${file} (StrictHostKeyChecking=${settings.strictHostKeyChecking})`);
        warnings.push(`permanently added ${hostName} (${fp}) to ${file}`);
      }
      return true;
    }
  }
}

/** Resolves once authenticated; rejects with why not (host key, authentication, network) or the abort. */
function readyOrWhyNot(
  client: Client,
  sock: Socket | Duplex,
  settings: ResolvedSettings,
  signal: AbortSignal | undefined,
  notes: HandshakeNotes,
  warnings: string[],
  triedLabels: string[],
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      client.end();
      sock.destroy();
      reject(signal!.reason ?? new DOMException('aborted', 'AbortError'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    client.once('ready', () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    client.once('error', (err: Error & { level?: string }) => {
      signal?.removeEventListener('abort', onAbort);
      if (notes.hostKeyFailure) return reject(notes.hostKeyFailure);
      if (err.level === 'client-authentication') {
        const skipped = warnings.length ? `; ${warnings.join('; ')}` : '';
        return reject(
          new AuthenticationError(
            `ssh authentication failed for ${settings.user}@${settings.hostname}:${settings.port}: ${err.message} (tried: ${triedLabels.join(', ') || 'no usable key'}${skipped})`,
            [...warnings],
          ),
        );
      }
      reject(new Error(`ssh to ${settings.hostname}:${settings.port}: ${err.message}`, { cause: err }));
    });
    // A close before ready without an error (e.g. the jump channel closing).
    client.once('close', () => reject(notes.hostKeyFailure ?? new Error(`ssh to ${settings.hostname}:${settings.port}: connection closed during handshake`)));
  });
}

/** The connection as the transport holds it: how it ended, and close() that ends the jump under it too. */
function wrapConnection(handshaken: Handshaken, opened: OpenedStream, settings: ResolvedSettings, warnings: string[]): SshConnection {
  const { client, keepalive, timing, end, clientClosed } = handshaken;
  const { sock, jump } = opened;
  const stallDetectMs = timing.quietMs + timing.answerMs;
  // `closed` resolves with the error that ended the connection, or undefined after close(). If the
  // jump connection dies, the channel under us ends and this connection's 'close' follows.
  const closed = clientClosed.then(() => {
    keepalive.stop();
    void jump?.close();
    if (end.closing) return undefined;
    if (end.stalled) {
      return new Error(
        `the link to ${settings.hostname}:${settings.port} is stalled: nothing heard for ${Math.round((end.silentMs ?? stallDetectMs) / 1000)} s ` +
          `(no answer within ${settings.keepaliveAnswerSeconds} s to a keepalive)`,
      );
    }
    return end.lastError ?? new Error(`ssh connection to ${settings.hostname}:${settings.port} closed by the server`);
  });

  return {
    client,
    settings,
    warnings,
    authenticatedWith: handshaken.authenticatedWith,
    closed,
    stallDetectMs,
    keepalive: { quietMs: timing.quietMs, onPing: (fn) => keepalive.onPing(fn) },
    close: async () => {
      end.closing = true;
      client.end();
      // A dead peer never answers the disconnect: do not wait for it forever.
      const timer = setTimeout(() => sock.destroy(), 2000);
      await closed;
      clearTimeout(timer);
      await jump?.close();
    },
  };
}

/** The keepalive's timing from the resolved ServerAlive* settings (workers/ssh/keepalive.ts). */
export function keepaliveTiming(settings: Pick<ResolvedSettings, 'serverAliveInterval' | 'keepaliveAnswerSeconds'>): KeepaliveTiming {
  return { quietMs: settings.serverAliveInterval * 1000, answerMs: settings.keepaliveAnswerSeconds * 1000 };
}

interface AuthAttempt {
  label: string;
  method: AnyAuthMethod;
}

/**
 * The authentication attempts in OpenSSH's order: identity files whose key is in the agent (via the
 * agent), then the agent's other keys unless IdentitiesOnly, then the remaining identity files.
 * Passphrase-protected files with no agent copy are skipped with a warning (nobody can type it).
 */
async function authMethods(settings: ResolvedSettings, env: NodeJS.ProcessEnv, warnings: string[]): Promise<AuthAttempt[]> {
  const username = settings.user;
  const files: { path: string; key?: ParsedKey; publicBlob?: Buffer; encrypted: boolean }[] = [];
  for (const path of settings.identityFiles) {
    let data: Buffer;
    try {
      data = await readFile(path);
    } catch (err) {
      warnings.push(`identity file ${path} cannot be read: ${(err as Error).message}`);
      continue;
    }
    const parsed = utils.parseKey(data);
    const key = Array.isArray(parsed) ? parsed[0] : parsed;
    if (key && !(key instanceof Error)) {
      files.push({ path, key, publicBlob: key.getPublicSSH(), encrypted: false });
      continue;
    }
    const message = key instanceof Error ? key.message : 'unreadable key';
    if (/encrypt|passphrase/i.test(message)) {
      files.push({ path, publicBlob: await publicBlobFromPubFile(path), encrypted: true });
    } else {
      warnings.push(`identity file ${path} cannot be used: ${message}`);
    }
  }

  let agentKeys: ParsedKey[] = [];
  let agent: OpenSSHAgentType | undefined;
  if (settings.identityAgent) {
    agent = new OpenSSHAgent(settings.identityAgent);
    try {
      agentKeys = await new Promise<ParsedKey[]>((resolve, reject) => agent!.getIdentities((err, keys) => (err ? reject(err) : resolve((keys ?? []) as ParsedKey[]))));
    } catch (err) {
      warnings.push(`ssh agent at ${settings.identityAgent} cannot be used: ${(err as Error).message}`);
      agent = undefined;
    }
  }

  const inAgent = (blob?: Buffer) => (blob ? agentKeys.find((k) => k.getPublicSSH().equals(blob)) : undefined);
  const agentOrder: ParsedKey[] = [];
  for (const f of files) {
    const k = inAgent(f.publicBlob);
    if (k && !agentOrder.includes(k)) agentOrder.push(k);
  }
  if (!settings.identitiesOnly) for (const k of agentKeys) if (!agentOrder.includes(k)) agentOrder.push(k);

  const attempts: AuthAttempt[] = [];
  if (agent && agentOrder.length) {
    attempts.push({
      label: `agent (${agentOrder.map((k) => fingerprint(k.getPublicSSH())).join(', ')})`,
      method: { type: 'agent', username, agent: new OrderedAgent(agent, agentOrder) },
    });
  }
  for (const f of files) {
    if (inAgent(f.publicBlob) && agent) continue;
    if (f.encrypted) {
      warnings.push(`identity file ${f.path} needs a passphrase and is not in an ssh agent: skipped (ssh-add it)`);
      continue;
    }
    attempts.push({ label: `file ${f.path}`, method: { type: 'publickey', username, key: f.key as unknown as Buffer } });
  }
  return attempts;
}

async function publicBlobFromPubFile(path: string): Promise<Buffer | undefined> {
  try {
    const line = (await readFile(`${path}.pub`, 'utf8')).trim().split(/\s+/);
    return line[1] ? Buffer.from(line[1], 'base64') : undefined;
  } catch {
    return undefined;
  }
}

/** The agent, offering only the chosen keys in the chosen order (ssh2 tries an agent's keys in its order). */
class OrderedAgent extends BaseAgent<ParsedKey> {
  constructor(private readonly inner: OpenSSHAgentType, private readonly keys: ParsedKey[]) {
    super();
  }
  getIdentities(cb: (err: Error | undefined, keys?: ParsedKey[]) => void): void {
    cb(undefined, this.keys);
  }
  sign(pubKey: ParsedKey, data: Buffer, options: unknown, cb?: unknown): void {
    (this.inner.sign as (...args: unknown[]) => void)(pubKey, data, options, cb);
  }
}

/** `[user@]host[:port]` or `ssh://[user@]host[:port]` (ProxyJump syntax). */
export function parseJumpHost(spec: string): SshTarget {
  const text = spec.trim().replace(/^ssh:\/\//i, '');
  const at = text.lastIndexOf('@');
  const user = at >= 0 ? text.slice(0, at) : undefined;
  const hostPort = splitHostPort(text.slice(at + 1), true);
  if (!hostPort) throw new UnsupportedSetting(`bad ProxyJump host: ${spec}`, [`proxyjump ${spec}`]);
  return { ...hostPort, ...(user ? { user } : {}) };
}

/** The `-F file` of the user's ssh command, if any (ssh -J passes only that on to the jump). */
function configFileOption(sshCommand: string | undefined, env: NodeJS.ProcessEnv): string[] {
  const { options } = parseSshCommand(sshCommand, env);
  const i = options.lastIndexOf('-F');
  return i >= 0 && options[i + 1] !== undefined ? ['-F', options[i + 1]!] : [];
}

/** A direct-tcpip channel to host:port; on abort, rejects at once (the caller closes the jump connection). */
function forwardOut(client: Client, host: string, port: number, signal: AbortSignal): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    signal.throwIfAborted();
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    client.forwardOut('127.0.0.1', 0, host, port, (err, stream) => {
      signal.removeEventListener('abort', onAbort);
      if (err) reject(new Error(`ProxyJump: cannot reach ${host}:${port}: ${err.message}`));
      else resolve(stream);
    });
  });
}
