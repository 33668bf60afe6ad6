// Resolves an ssh host as OpenSSH would: the user's `core.sshCommand` / `GIT_SSH_COMMAND` options and
// ssh_config files are applied by `ssh -G` itself (never re-implemented here), and its output is
// turned into typed settings for ssh2. Also parses git's ssh URL forms.
//
// ssh2 reads no ssh_config, so without this a remote would silently ignore the user's Host blocks,
// IdentityFile, Port, User, ProxyJump, known-hosts files...

import { createHash } from 'node:crypto';
import { accessSync, constants as fsConstants } from 'node:fs';
import { hostname as localHostname, userInfo } from 'node:os';
import { basename } from 'node:path';
import spawn from 'nano-spawn';
import { ShellSyntaxError, splitShellWords } from '../../shared/kit/shell.js';
import { bracketEnd, SSH_SCHEMES, urlKind } from '../../shared/kit/url.js';

/** Where to connect, before ssh_config is applied. */
export interface SshTarget {
  user?: string;
  host: string;
  port?: number;
}

/** An ssh remote URL taken apart as git does. */
export interface SshUrl extends SshTarget {
  /** The repository path as the server-side command receives it: `/abs`, `~/rel`, `~user/rel` or `rel`. */
  path: string;
}

export type StrictHostKeyChecking = 'yes' | 'no' | 'accept-new';

/** The settings of one host, as `ssh -G` resolved them, typed and expanded. */
export interface ResolvedSettings {
  /** The name the user gave (before HostName): known_hosts is checked under this unless HostKeyAlias. */
  originalHost: string;
  hostname: string;
  port: number;
  user: string;
  /** Existing identity files, in OpenSSH's order, `~` and `%` tokens expanded. */
  identityFiles: string[];
  identitiesOnly: boolean;
  /** Agent socket to use (IdentityAgent, else SSH_AUTH_SOCK); undefined when none/disabled. */
  identityAgent?: string;
  userKnownHostsFiles: string[];
  globalKnownHostsFiles: string[];
  /** `ask` (and anything unknown) is treated as `yes`: the daemon can never ask. */
  strictHostKeyChecking: StrictHostKeyChecking;
  hostKeyAlias?: string;
  hashKnownHosts: boolean;
  /** Seconds of silence from the server before a keepalive; ours (14) when unset or 0 (a held connection must notice a dead link). */
  serverAliveInterval: number;
  /** 2 when unset or 0. */
  serverAliveCountMax: number;
  /**
   * Seconds a keepalive may go unanswered before the link counts as stalled: (CountMax - 1)
   * intervals when the user set ServerAliveInterval (OpenSSH gives up after Interval x CountMax of
   * silence), ours (5) otherwise.
   */
  keepaliveAnswerSeconds: number;
  /** Seconds, when set. */
  connectTimeout?: number;
  /** The ProxyJump value (`[user@]host[:port][,...]`), when set and not `none`. */
  proxyJump?: string;
  /** `inet` / `inet6` when AddressFamily restricts it. */
  addressFamily?: 'inet' | 'inet6';
  bindAddress?: string;
  /** Settings ssh2 cannot honour, each as `name value`, for one WARNING naming them. */
  unsupported: string[];
}

export interface ResolveOptions {
  /** `core.sshCommand` or `GIT_SSH_COMMAND`, as the user wrote it (a shell command line). */
  sshCommand?: string;
  /** Environment for `ssh -G` and for SSH_AUTH_SOCK / `$VAR` in sshCommand. Default process.env. */
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

/**
 * Keepalive when ssh_config sets none: one after 16 s of silence, 3 s for its answer, so a stall is
 * noticed within 19 s (the target: 20 s). See workers/ssh/keepalive.ts for why the interval takes
 * most of the budget. Each ping costs an idle remote's thread three wake-ups (the ping, its answer,
 * the answer's deadline, whose timer wakes the thread even once cleared: Node keeps the loop's
 * timer armed for it), about 1.5 ms of CPU each here: 16 s instead of 14 s is an eighth fewer.
 * 3 s is many round trips on any link; anything the server sends counts as the answer.
 */
export const DEFAULT_ALIVE_INTERVAL = 16;
export const DEFAULT_ALIVE_ANSWER = 3;
/** CountMax when the user set an interval but no count. */
export const DEFAULT_ALIVE_COUNT = 2;

/** The ServerAlive* settings, and how long a keepalive's answer is waited for. */
type KeepaliveSettings = Pick<ResolvedSettings, 'serverAliveInterval' | 'serverAliveCountMax' | 'keepaliveAnswerSeconds'>;

/** ServerAliveInterval x ServerAliveCountMax as OpenSSH reads them: a stall noticed after interval x count (count at least 2). */
function userKeepalive(interval: number, count: number): KeepaliveSettings {
  return { serverAliveInterval: interval, serverAliveCountMax: count, keepaliveAnswerSeconds: interval * (Math.max(2, count) - 1) };
}

function ourKeepalive(): KeepaliveSettings {
  return { serverAliveInterval: DEFAULT_ALIVE_INTERVAL, serverAliveCountMax: DEFAULT_ALIVE_COUNT, keepaliveAnswerSeconds: DEFAULT_ALIVE_ANSWER };
}

/** The user's ssh command line cannot be understood without running it through a shell. */
export class SshCommandError extends Error {
  override name = 'SshCommandError';
}

// ---------------------------------------------------------------------------------------------
// git's ssh URL forms

/**
 * Parses `ssh://[user@]host[:port]/path` (also `git+ssh://`, `ssh+git://`; percent-escapes decoded as
 * git does) and scp-like `[user@]host:path`, told apart from local paths by shared/kit/url.ts;
 * `/~/x` and `/~user/x` are home-relative (`~/x`); `[...]` holds an IPv6 address.
 * Returns undefined for anything else (local paths, other schemes).
 */
export function parseSshUrl(url: string): SshUrl | undefined {
  const kind = urlKind(url);
  const isScheme = kind.kind === 'scheme';
  let authority: string;
  let path: string;
  if (isScheme) {
    if (!SSH_SCHEMES.includes(kind.scheme)) return undefined;
    let rest: string;
    try {
      rest = decodeURIComponent(url.slice(url.indexOf('://') + 3));
    } catch {
      return undefined;
    }
    const slash = rest.indexOf('/', bracketEnd(rest));
    if (slash < 0) return undefined;
    authority = rest.slice(0, slash);
    path = rest.slice(slash);
  } else if (kind.kind === 'scp') {
    const colon = url.indexOf(':', bracketEnd(url));
    authority = url.slice(0, colon);
    path = url.slice(colon + 1);
  } else return undefined;
  if (path.startsWith('/~')) path = path.slice(1);
  if (!path || path === '/') return undefined;
  const at = authority.lastIndexOf('@');
  const user = at >= 0 ? authority.slice(0, at) : undefined;
  const hostPort = splitHostPort(authority.slice(at + 1), isScheme);
  if (!hostPort || user === '') return undefined;
  return clean({ user, ...hostPort, path });
}

/** `host`, `host:port` (when `portAllowed`) or `[host]` / `[host]:port`; undefined when malformed. */
export function splitHostPort(text: string, portAllowed: boolean): { host: string; port?: number } | undefined {
  let host = text;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return undefined;
    host = text.slice(1, close);
    const after = text.slice(close + 1);
    if (after && !after.startsWith(':')) return undefined;
    portText = after ? after.slice(1) : undefined;
  } else if (portAllowed) {
    const colon = text.lastIndexOf(':');
    if (colon >= 0) {
      host = text.slice(0, colon);
      portText = text.slice(colon + 1);
    }
  }
  if (!host || /[\s/]/.test(host)) return undefined;
  if (portText === undefined || portText === '') return { host };
  if (!portAllowed || !/^\d+$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) return undefined;
  return { host, port: Number(portText) };
}

function clean<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

// ---------------------------------------------------------------------------------------------
// The user's ssh command line

/** ssh options that take an argument (from ssh(1)'s getopt string). */
const OPTIONS_WITH_ARG = new Set('BbcDEeFIiJLlmOoPpQRSWw'.split(''));
const OPTIONS_WITHOUT_ARG = new Set('46AaCfGgKkMNnqsTtVvXxYy'.split(''));
/** Options that change what ssh does or prints, not how it connects: never passed to `ssh -G`. */
const DROPPED_OPTIONS = new Set('EfGMNnOQqsVvWTt'.split(''));

export interface ParsedSshCommand {
  /** The program: `ssh` unless the command names another ssh binary. */
  program: string;
  /** Options to pass on to `ssh -G`, in order. */
  options: string[];
  /** Parts that were ignored, for the unsupported list. */
  ignored: string[];
}

/** Understands `ssh -F cfg -i key -p 2222 -o X=Y -l user ...` (words after the options are ignored). */
export function parseSshCommand(sshCommand: string | undefined, env: NodeJS.ProcessEnv = process.env): ParsedSshCommand {
  let words = ['ssh'];
  try {
    if (sshCommand?.trim()) words = splitShellWords(sshCommand, env);
  } catch (err) {
    if (err instanceof ShellSyntaxError) throw new SshCommandError(`ssh command ${err.message}`);
    throw err;
  }
  const [first, ...rest] = words;
  const ignored: string[] = [];
  let program = first ?? 'ssh';
  if (!/^ssh(\.exe)?$/.test(basename(program))) {
    ignored.push(`ssh command ${program} (resolved with OpenSSH's ssh -G instead)`);
    program = 'ssh';
  }
  const options: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const word = rest[i]!;
    if (word === '--' || !word.startsWith('-') || word === '-') {
      ignored.push(`ssh command arguments ${rest.slice(i).join(' ')}`);
      break;
    }
    for (let j = 1; j < word.length; j++) {
      const flag = word[j]!;
      if (OPTIONS_WITH_ARG.has(flag)) {
        let value = word.slice(j + 1);
        if (!value) {
          if (i + 1 >= rest.length) throw new SshCommandError(`ssh option -${flag} needs a value: ${sshCommand}`);
          value = rest[++i]!;
        }
        if (!DROPPED_OPTIONS.has(flag)) options.push(`-${flag}`, value);
        break;
      }
      if (!OPTIONS_WITHOUT_ARG.has(flag)) throw new SshCommandError(`unknown ssh option -${flag} in: ${sshCommand}`);
      if (!DROPPED_OPTIONS.has(flag)) options.push(`-${flag}`);
    }
  }
  return { program, options, ignored };
}

// ---------------------------------------------------------------------------------------------
// ssh -G

/**
 * Resolves `target` as `ssh` would when git runs `<sshCommand> [-p port] [user@]host`.
 * Throws SshCommandError for a command line it cannot understand, or when ssh -G fails.
 */
export async function resolveSshSettings(target: SshTarget, opts: ResolveOptions = {}): Promise<ResolvedSettings> {
  const env = opts.env ?? process.env;
  if (!target.host || target.host.startsWith('-')) throw new SshCommandError(`bad ssh host name: ${JSON.stringify(target.host)}`);
  if (target.user?.startsWith('-')) throw new SshCommandError(`bad ssh user name: ${JSON.stringify(target.user)}`);
  const parsed = parseSshCommand(opts.sshCommand, env);
  // `-o ControlPath=%C` first so that ssh prints its own %C hash (the formula changed across versions).
  const args = ['-G', '-o', 'ControlPath=%C', ...parsed.options];
  if (target.port !== undefined) args.push('-p', String(target.port));
  args.push('--', target.user ? `${target.user}@${target.host}` : target.host);
  let stdout: string;
  try {
    ({ stdout } = await spawn(parsed.program, args, { env: env as Record<string, string>, stdin: 'ignore', signal: opts.signal }));
  } catch (err) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    const e = err as Error & { stderr?: string };
    throw new SshCommandError(`ssh -G ${target.host} failed: ${(e.stderr || e.message).trim()}`);
  }
  const settings = settingsFromSshG(stdout, target.host, env);
  settings.unsupported.unshift(...parsed.ignored);
  return settings;
}

/** ssh -G prints `key value` lines; repeated keys (identityfile, certificatefile...) keep order. */
export function parseSshGOutput(output: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const line of output.split('\n')) {
    const m = /^(\S+)\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    const key = m[1]!.toLowerCase();
    const list = map.get(key) ?? [];
    list.push(m[2]!);
    map.set(key, list);
  }
  return map;
}

/** Key types ssh2 cannot use (FIDO / security keys). */
const UNSUPPORTED_KEY_FILE = /_sk$/;

/** `ssh -G` output read as ssh_config values: the first of a key, or every one. */
interface SshGValues {
  all(key: string): string[];
  one(key: string): string | undefined;
  /** The value unless it is unset, empty or `none`. */
  isSet(key: string): string | undefined;
}

function sshGValues(output: string): SshGValues {
  const g = parseSshGOutput(output);
  const one = (key: string): string | undefined => g.get(key)?.[0];
  return {
    all: (key) => g.get(key) ?? [],
    one,
    isSet: (key) => {
      const v = one(key);
      return v === undefined || v === 'none' || v === '' ? undefined : v;
    },
  };
}

/** Turns `ssh -G` output into settings; `originalHost` is the name given to ssh. Exported for tests. */
export function settingsFromSshG(output: string, originalHost: string, env: NodeJS.ProcessEnv = process.env): ResolvedSettings {
  const g = sshGValues(output);
  const { one, isSet } = g;
  const hostname = one('hostname') ?? originalHost;
  const port = Number(one('port') ?? 22);
  const user = one('user') ?? userInfo().username;
  const proxyJump = isSet('proxyjump');
  const tokens = tokenValues({
    originalHost,
    hostname,
    port,
    user,
    hostKeyAlias: isSet('hostkeyalias'),
    proxyJump,
    connectionHash: /^[0-9a-f]{40}$/.test(one('controlpath') ?? '') ? one('controlpath')! : undefined,
  });
  const unsupported: string[] = [];
  const identityFiles = usableIdentityFiles(g, tokens, unsupported);
  const splitFiles = (key: string): string[] =>
    g
      .all(key)
      .flatMap((v) => v.split(/\s+/))
      .filter((f) => f && f !== 'none')
      .map((f) => expandPath(f, tokens));
  unsupported.push(...unsupportedSettings(g, tokens));
  const connectTimeoutRaw = Number(one('connecttimeout'));
  const family = one('addressfamily');
  return {
    originalHost,
    hostname,
    port,
    user,
    identityFiles,
    identitiesOnly: one('identitiesonly') === 'yes' || one('identitiesonly') === 'true',
    identityAgent: identityAgentOf(g, env, tokens),
    userKnownHostsFiles: splitFiles('userknownhostsfile'),
    globalKnownHostsFiles: splitFiles('globalknownhostsfile'),
    strictHostKeyChecking: strictHostKeyCheckingOf(g),
    hostKeyAlias: isSet('hostkeyalias'),
    hashKnownHosts: one('hashknownhosts') === 'yes' || one('hashknownhosts') === 'true',
    ...keepaliveOf(g),
    connectTimeout: Number.isFinite(connectTimeoutRaw) && connectTimeoutRaw > 0 ? connectTimeoutRaw : undefined,
    proxyJump,
    addressFamily: family === 'inet' || family === 'inet6' ? family : undefined,
    bindAddress: isSet('bindaddress'),
    unsupported,
  };
}

/** The identity files that exist, each once; FIDO keys are left out and said in `unsupported`. */
function usableIdentityFiles(g: SshGValues, tokens: Record<string, string>, unsupported: string[]): string[] {
  const identityFiles: string[] = [];
  for (const template of g.all('identityfile')) {
    const path = expandPath(template, tokens);
    if (!exists(path)) continue; // ssh skips missing default keys silently too
    if (UNSUPPORTED_KEY_FILE.test(path)) {
      unsupported.push(`identityfile ${path} (FIDO security keys)`);
      continue;
    }
    if (!identityFiles.includes(path)) identityFiles.push(path);
  }
  return identityFiles;
}

function identityAgentOf(g: SshGValues, env: NodeJS.ProcessEnv, tokens: Record<string, string>): string | undefined {
  const agentSetting = g.one('identityagent');
  if (agentSetting === undefined || agentSetting === 'SSH_AUTH_SOCK') return env.SSH_AUTH_SOCK || undefined;
  if (agentSetting === 'none') return undefined;
  return agentSetting.startsWith('$') ? env[agentSetting.replace(/^\$\{?|\}$/g, '')] || undefined : expandPath(agentSetting, tokens);
}

function strictHostKeyCheckingOf(g: SshGValues): StrictHostKeyChecking {
  const strictRaw = (g.one('stricthostkeychecking') ?? 'ask').toLowerCase();
  return strictRaw === 'false' || strictRaw === 'no' || strictRaw === 'off' ? 'no' : strictRaw === 'accept-new' ? 'accept-new' : 'yes';
}

// Keepalive is ours to choose when the user chose no interval: ssh's own default (0, none) and
// BatchMode's implicit 300 s are far too slow to notice a dead link for a held connection, and
// `ssh -G` prints CountMax 3 whether or not anyone set it. Ours notices a stall within 19 s (the
// target: 20 s); each keepalive wakes the remote's thread (the ping, its answer), so a shorter
// interval costs idle CPU on every connected remote for no promise kept.
function keepaliveOf(g: SshGValues): KeepaliveSettings {
  const positive = (key: string, fallback: number): number => {
    const n = Number(g.one(key));
    return Number.isFinite(n) && n > 0 ? n : fallback;
  };
  const aliveRaw = g.one('serveraliveinterval');
  const userSetAliveInterval = Number(aliveRaw) > 0 && !(g.one('batchmode') === 'yes' && aliveRaw === '300');
  return userSetAliveInterval ? userKeepalive(positive('serveraliveinterval', DEFAULT_ALIVE_INTERVAL), positive('serveralivecountmax', DEFAULT_ALIVE_COUNT)) : ourKeepalive();
}

/** Settings ssh would honour and ssh2 cannot, each as `name value` (after any FIDO identity files). */
function unsupportedSettings(g: SshGValues, tokens: Record<string, string>): string[] {
  const unsupported: string[] = [];
  const proxyCommand = g.isSet('proxycommand');
  if (proxyCommand) unsupported.push(`proxycommand ${proxyCommand}`);
  for (const cert of g.all('certificatefile')) unsupported.push(`certificatefile ${expandPath(cert, tokens)}`);
  const pkcs11 = g.isSet('pkcs11provider');
  if (pkcs11) unsupported.push(`pkcs11provider ${pkcs11}`);
  const bindInterface = g.isSet('bindinterface');
  if (bindInterface) unsupported.push(`bindinterface ${bindInterface}`);
  if (g.one('proxyusefdpass') === 'yes') unsupported.push('proxyusefdpass yes');
  return unsupported;
}

interface TokenContext {
  originalHost: string;
  hostname: string;
  port: number;
  user: string;
  hostKeyAlias?: string;
  proxyJump?: string;
  /** %C as ssh computed it, when known. */
  connectionHash?: string;
}

/** Values of ssh_config's `%` tokens (ssh_config(5) TOKENS), for the local user. */
export function tokenValues(ctx: TokenContext): Record<string, string> {
  const me = userInfo();
  const local = localHostname();
  const values: Record<string, string> = {
    '%': '%',
    d: me.homedir,
    u: me.username,
    i: String(me.uid),
    l: local,
    L: local.split('.')[0]!,
    h: ctx.hostname,
    n: ctx.originalHost,
    r: ctx.user,
    p: String(ctx.port),
    k: ctx.hostKeyAlias ?? ctx.originalHost,
    j: ctx.proxyJump ?? '',
  };
  values.C = ctx.connectionHash ?? createHash('sha1').update(`${values.l}${values.h}${values.p}${values.r}${values.j}`).digest('hex');
  return values;
}

/** Expands a leading `~` / `~user` and `%x` tokens; an unknown token throws (ssh refuses it too). */
export function expandPath(template: string, tokens: Record<string, string>): string {
  let path = template;
  if (path === '~' || path.startsWith('~/')) path = tokens.d + path.slice(1);
  else if (path.startsWith('~')) {
    const m = /^~([^/]+)(.*)$/.exec(path)!;
    path = m[1] === tokens.u ? tokens.d + m[2] : path; // other users' homes: left as is (rare; ssh looks them up)
  }
  return path.replace(/%(.)/g, (all, t: string) => {
    const value = tokens[t];
    if (value === undefined) throw new SshCommandError(`unknown token ${all} in ssh setting ${template}`);
    return value;
  });
}

function exists(path: string): boolean {
  try {
    accessSync(path, fsConstants.R_OK);
    return true;
  } catch {
    return false;
  }
}
