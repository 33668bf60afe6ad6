// `git-remote-daemon shell [<basedir>]`: a login command for authorized_keys
//
//   command="git-remote-daemon shell /srv/git",restrict ssh-ed25519 AAAA...
//
// in the spirit of git-shell: it reads SSH_ORIGINAL_COMMAND and runs only
//
//   notifychanges <path>                 (also `git-remote-daemon notifychanges <path>`)
//   git-upload-pack <path>               (also `git upload-pack <path>`)
//   git-receive-pack <path>              (also `git receive-pack <path>`)
//   git-upload-archive <path>            (also `git upload-archive <path>`)
//
// Words are split and unquoted the way git quotes them (src/kit/shell.ts); the path must name
// a repository (src/server/repopath.ts) and, with a base directory, lie inside it: checked on the
// words before anything is looked up, and again once symlinks are resolved; every refused path
// gets the same answer. Git runs from an argv (never through a shell); notifychanges runs in this
// process, which saves a second Node start-up. bin/git-remote-daemon loads this module without the
// CLI (src/server/shellentry.ts), so each git command costs one bare Node start. Anything else is refused with one line on stderr
// and exit code 1. See docs/server.md.

// node:child_process rather than nano-spawn: git's stdio is the ssh session's own (inherited, the
// pack data never passes through us), and its end, code or signal, is mirrored exactly as our exit.
import { spawn } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { expandPath, findRepository, RepoPathError, exists } from './repopath.js';
import { splitCommandLine } from '../kit/shell.js';

const PROGRAM = 'git-remote-daemon shell';

export type GitService = 'upload-pack' | 'receive-pack' | 'upload-archive';
export type ShellCommand = { kind: 'notifychanges'; path: string } | { kind: 'git'; service: GitService; path: string };
export type ParsedCommand = { ok: true; command: ShellCommand } | { ok: false; error: string };

const GIT_SERVICES = new Set<string>(['upload-pack', 'receive-pack', 'upload-archive']);

/** Parses SSH_ORIGINAL_COMMAND into one allowed command, or says why it is refused. Never throws. */
export function parseShellCommand(line: string | undefined): ParsedCommand {
  if (line === undefined || line.trim() === '') {
    return { ok: false, error: 'interactive login is not allowed: this key only runs git transfers and notifychanges' };
  }
  const split = splitCommandLine(line);
  if (!split.ok) return split;
  const words = split.words;
  let kind: ShellCommand['kind'];
  let service: GitService | undefined;
  let args: string[];
  const [first, second] = words;
  if (first === 'notifychanges') {
    kind = 'notifychanges';
    args = words.slice(1);
  } else if (first === 'git-remote-daemon' && second === 'notifychanges') {
    kind = 'notifychanges';
    args = words.slice(2);
  } else if (first?.startsWith('git-') && GIT_SERVICES.has(first.slice(4))) {
    kind = 'git';
    service = first.slice(4) as GitService;
    args = words.slice(1);
  } else if (first === 'git' && second !== undefined && GIT_SERVICES.has(second)) {
    kind = 'git';
    service = second as GitService;
    args = words.slice(2);
  } else {
    return { ok: false, error: `command not allowed: ${describe(first ?? '')}` };
  }
  const name = kind === 'git' ? `git-${service}` : 'notifychanges';
  if (args.length === 0) return { ok: false, error: `${name} needs a repository path` };
  if (args.length > 1) return { ok: false, error: `${name} takes exactly one argument, a repository path` };
  const path = args[0]!;
  if (path === '') return { ok: false, error: `${name}: empty repository path` };
  if (path.startsWith('-')) return { ok: false, error: `${name}: options are not allowed: ${describe(path)}` };
  return { ok: true, command: kind === 'git' ? { kind, service: service!, path } : { kind, path } };
}

export interface ShellOptions {
  /** Confine repositories to this directory; relative paths are then taken relative to it. */
  baseDir?: string;
  /** Where SSH_ORIGINAL_COMMAND is read from (default process.env). */
  env?: NodeJS.ProcessEnv;
}

/**
 * Why a path is refused with a base directory: always these same words, whatever the reason (it
 * lies outside, it does not exist, it is no repository, `~user` names someone), so that a key
 * confined to the base learns nothing about what exists beyond it.
 */
export function notFound(path: string): RepoPathError {
  return new RepoPathError(`repository not found: ${describe(path)}`);
}

/**
 * Resolves the path of an allowed command to what git should be given: an absolute path that
 * names a repository and, with a base directory, lies inside it after `..` and symlinks are
 * resolved. Rejects with RepoPathError otherwise (with a base directory: always notFound()).
 */
export async function resolveAllowedPath(path: string, baseDir?: string): Promise<string> {
  if (baseDir === undefined) {
    const expanded = await expandPath(path);
    const repository = await findRepository(expanded);
    // Hand git the real path of what the client named (git does its own `.git` suffix search), or
    // of the git dir found when the named path itself does not exist (`repo` for `repo.git`).
    return realpathSync(exists(expanded) ? expanded : repository.gitDir);
  }
  let base: string;
  try {
    base = realpathSync(resolve(baseDir));
  } catch {
    throw new RepoPathError(`base directory does not exist: ${baseDir}`);
  }
  // The base is checked on the words alone before anything is looked up (no `getent`, no stat of
  // a path outside), so that what exists outside cannot change the answer.
  const named = placeInBase(path, resolve(baseDir), base);
  if (named === undefined) throw notFound(path);
  try {
    const repository = await findRepository(named, base);
    const target = realpathSync(exists(named) ? named : repository.gitDir);
    // Then once more on the real paths: a symlink inside the base may point out of it.
    for (const p of [target, realpathSync(repository.gitDir), realpathSync(repository.commonDir)]) {
      if (!within(p, base)) throw notFound(path);
    }
    return target;
  } catch {
    throw notFound(path);
  }
}

/**
 * Where a path a client sends lies under the base directory, from its words alone (`..`
 * resolved lexically), or undefined when it names something outside. Every form git and
 * git-annex send over ssh means a place in the base:
 *
 *   r.git            (host:r.git)               <base>/r.git
 *   /r.git           (ssh://host/r.git)         <base>/r.git
 *   <base>/r.git     (the full path)            <base>/r.git
 *   ~/r.git, /~/r.git (ssh://host/~/r.git)      <base>/r.git: the base is the key's home
 *   ~alice/r.git                                refused: no user is looked up
 */
export function placeInBase(path: string, configuredBase: string, realBase: string): string | undefined {
  if (path === '' || path.includes('\0')) return undefined;
  let rest = path.startsWith('/~') ? path.slice(1) : path;
  if (rest.startsWith('~')) {
    if (rest !== '~' && !rest.startsWith('~/')) return undefined;
    rest = rest.slice(1).replace(/^\/+/, '');
  }
  let placed: string;
  if (isAbsolute(rest)) {
    const absolute = resolve(rest);
    if (within(absolute, realBase)) placed = absolute;
    else if (within(absolute, configuredBase)) placed = resolve(realBase, relative(configuredBase, absolute));
    else placed = resolve(realBase, `.${rest}`); // ssh://host/r.git: relative to the base
  } else {
    placed = resolve(realBase, rest);
  }
  return within(placed, realBase) ? placed : undefined;
}

function within(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

/** Runs the login command; resolves to the exit code. */
export async function runShell(opts: ShellOptions = {}): Promise<number> {
  const env = opts.env ?? process.env;
  const parsed = parseShellCommand(env.SSH_ORIGINAL_COMMAND);
  if (!parsed.ok) return refuse(parsed.error);
  const command = parsed.command;
  let target: string;
  try {
    target = await resolveAllowedPath(command.path, opts.baseDir);
  } catch (err) {
    return refuse(err instanceof RepoPathError ? err.message : String((err as Error).message ?? err));
  }
  if (command.kind === 'notifychanges') {
    // Loaded only here: a git transfer, the common case, starts without the ref watcher.
    const { runNotifyChanges } = await import('./notifychanges.js');
    return runNotifyChanges(target);
  }
  return runGit(command.service, target);
}

function refuse(reason: string): number {
  process.stderr.write(`${PROGRAM}: ${reason}\n`);
  return 1;
}

/** Runs `git <service> <path>` with our stdio, passing on hang-ups, and mirrors how it ended. */
function runGit(service: GitService, target: string): Promise<number> {
  return new Promise((resolvePromise) => {
    const child = spawn('git', [service, target], { stdio: 'inherit' });
    const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
    const handlers = (['SIGHUP', 'SIGTERM', 'SIGINT'] as const).map((s) => [s, forward(s)] as const);
    for (const [s, h] of handlers) process.on(s, h);
    const done = (code: number) => {
      for (const [s, h] of handlers) process.off(s, h);
      resolvePromise(code);
    };
    child.once('error', (err) => {
      process.stderr.write(`${PROGRAM}: cannot run git: ${err.message}\n`);
      done(1);
    });
    child.once('exit', (code, signal) => done(code ?? 128 + (signal ? osConstants.signals[signal] : 0)));
  });
}

/** Client text in an error line: quoted, control characters escaped, cut short. */
function describe(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}...` : text);
}
