// The command line's definition (commander): every command, option and help text, in one place
// that both the entry point (cli.ts) and the man page generator (manpage.ts) read. Defining it has
// no side effects; the actions load what they need only when they run.

import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { Argument, Command, InvalidArgumentError, Option } from 'commander';
import { servedUrls, TRANSPORTS } from '../workers/registry.js';
import type { Daemon } from './daemon.js';
import { DAEMON, type Consumed } from './protocol.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

export const EXIT_CODES = `Exit codes: 0 success; 1 failure (outside a repository, the daemon could not start or be
reached, fetch --wait saw the fetch fail...); 2 a usage error (unknown command or option, a bad
argument, a missing -C directory) or a message or remote the daemon would refuse; 3 no daemon runs
in this repository (status, send, pause, resume, fetch, reload), or no shared daemon runs (status
--all); status --check: 2 when a remote is unhealthy.`;

/** Failures: outside a repository, the daemon could not start or be reached, a fetch failed. */
export const FAILED = 1;
/** Usage errors, and messages or remotes the daemon would refuse. */
export const USAGE = 2;

/** Says what failed in one line (a multi-line message is joined) and exits with `code`. */
export function fail(message: string, code = FAILED): never {
  // git's own words say what failed, not what to do about it.
  const hint = /not a git repository/i.test(message) ? '; run it inside a repository, or name one with -C <dir>' : '';
  process.stderr.write(`git-remote-daemon: ${oneLine(message)}${hint}\n`);
  process.exit(code);
}

/** A message as one line: every line of it, trimmed, joined; never a stack trace. */
export function oneLine(message: string): string {
  return message
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('at '))
    .join(' ');
}

/**
 * For the commands a person runs (not the daemon itself, which logs its own crashes): whatever
 * escapes a command's own handling still ends as one line, not a stack trace.
 */
function oneLineCrashes(): void {
  const crash = (err: unknown) => fail(`unexpected error: ${err instanceof Error ? err.message : String(err)}`);
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
}

/**
 * Commander, with its usage errors said in one line that names what to read (\`help <command>\`),
 * exit code 2 (USAGE) for them, and "did you mean" suggestions at every level.
 */
class Cli extends Command {
  override createCommand(name?: string): Command {
    return new Cli(name);
  }

  /** \`help <command>\` for a command there is not: the same one-line error, with a suggestion, as \`<command>\`. */
  _dispatchHelpCommand(name?: string): unknown {
    const self = this as unknown as { _findCommand(name: string): Command | undefined; unknownCommand(): never };
    if (name && !self._findCommand(name)) {
      this.args = [name];
      self.unknownCommand();
    }
    return (Command.prototype as unknown as { _dispatchHelpCommand(name?: string): unknown })._dispatchHelpCommand.call(this, name);
  }

  override error(message: string, options?: { code?: string; exitCode?: number }): never {
    const path = commandPath(this);
    const hint = options?.code === 'commander.unknownCommand' && /did you mean/i.test(message) ? '' : `; see \`git remote-daemon help${path ? ` ${path}` : ''}\``;
    const text = oneLine(message.replace(/^error: /, '').replace(/\(Did you mean/g, '(did you mean')).replace(/\.$/, '');
    // Errors the program raises itself with an exit code of its own keep it; commander's are usage errors.
    fail(`${text}${hint}`, options?.exitCode && options.code === 'commander.error' ? options.exitCode : USAGE);
  }
}

/** "p2p pair" for that command; "" for the program itself. */
function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** \`-C <dir>\`, like git's: each one relative to the one before; a missing directory is an error. */
function changeDirectory(dirs: string[]): void {
  for (const dir of dirs) {
    const target = resolve(dir);
    let isDirectory = false;
    try {
      isDirectory = statSync(target).isDirectory();
    } catch {
      // said below
    }
    if (!isDirectory) fail(`cannot change to '${dir}': no such directory`, USAGE);
    process.chdir(target);
  }
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function say(message: string): void {
  process.stdout.write(`git-remote-daemon: ${message}\n`);
}

async function foreground(options: { verbose?: boolean; force?: boolean }): Promise<void> {
  const { acquireLock } = await import('./background/lock.js');
  const { daemonPaths, ensureDir } = await import('./background/paths.js');
  const { TITLE_PREFIX } = await import('./background/daemonprocesses.js');
  const { watchRepository } = await import('./background/watchdog.js');
  // The daemon itself (its thread pool, the coordinator, the transports' code) only here: every
  // other command starts without it, in a third of the time (`status`, `send`, `--help`...).
  const { ControlOutput } = await import('./control.js');
  const { armHardExit, exitWhenDone, startDaemon } = await import('./daemon.js');
  const log = options.verbose ? (text: string) => process.stderr.write(`${text}\n`) : () => {};
  let daemon: Daemon | undefined;
  const output = new ControlOutput(process.stdout, () => void daemon?.stop(), process.stderr);
  try {
    const paths = await daemonPaths(process.cwd());
    const { commonDir } = paths;
    ensureDir(paths);
    // The title is how other commands recognise a daemon in /proc (daemonprocesses.ts), as for run.ts.
    process.title = `${TITLE_PREFIX}${process.cwd()}`;
    // Two daemons in one repository both fetch and both fast-forward: refuse unless insisted on.
    const lock = await acquireLock(paths, 'foreground');
    if (lock.ok) {
      // Found in /proc after its directory was deleted, it is asked to bind its lock again.
      const held = lock.lock;
      process.on('SIGUSR2', () => {
        try {
          ensureDir(paths);
          void held.repair().catch(() => {});
        } catch {
          // the repository is going away; the watchdog stops this daemon
        }
      });
    } else {
      const who = `a daemon already runs in this repository${lock.holder ? ` (pid ${lock.holder.pid})` : ''}`;
      if (!options.force) fail(`${who}; stop it first (git remote-daemon stop), or pass --force to run beside it`);
      process.stderr.write(`git-remote-daemon: ${who}; running beside it (--force)\n`);
    }
    daemon = await startDaemon(process.cwd(), { input: process.stdin, output, log, onStopping: armHardExit });
    // Like a background daemon, one whose repository is deleted stops rather than run on for nothing.
    const running = daemon;
    const stopWatching = watchRepository({
      worktree: running.repo.cwd,
      commonDir,
      gone: (what) => {
        running.coordinator.gate.warn(DAEMON, `${what} is gone; stopping`);
        void running.stop();
      },
    });
    void running.finished.then(stopWatching);
  } catch (err) {
    fail((err as Error).message);
  }
  exitWhenDone(daemon!);
}

/**
 * For the client commands (start, stop, status, send, reload, log...): a reader that goes away
 * (`log | head`, `status | head -0`) is a normal end, not a crash. Node ignores SIGPIPE, so the
 * write fails with EPIPE instead, which would otherwise be an unhandled 'error' event.
 */
function endQuietlyOnBrokenPipe(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => process.exit(err.code === 'EPIPE' ? 0 : 1));
  // Nobody is left to read a complaint about stderr itself; the exit code still says how it went.
  process.stderr.on('error', () => {});
}

/** Runs a command's work, turning an error (not in a repository...) into a clear message and exit 1. */
async function guard<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    fail((err as Error).message);
  }
}

/** Hands a message to the running daemon and says so in one line. */
async function send(line: string): Promise<void> {
  endQuietlyOnBrokenPipe();
  const { sendCommand } = await import('./commands/send.js');
  const result = await guard(() => sendCommand(process.cwd(), line));
  if (result.code === 0) say(`sent ${line} to the daemon (pid ${result.pid})`);
  else process.stderr.write(`git-remote-daemon: ${result.message}\n`);
  process.exitCode = result.code;
}

async function startAll(): Promise<void> {
  endQuietlyOnBrokenPipe();
  oneLineCrashes();
  const { startHub } = await import('./hub/commands.js');
  const result = await startHub();
  if (result.code !== 0) fail(result.message, result.code);
  say(result.message);
}

async function start(): Promise<void> {
  endQuietlyOnBrokenPipe();
  oneLineCrashes();
  const { startInBackground } = await import('./background/start.js');
  const result = await startInBackground(process.cwd());
  // What the daemon found worth a warning while starting (no remotes, remotes it cannot serve) is
  // said here too, where the person who started it is looking, not only in the log.
  for (const warning of result.warnings ?? []) {
    const [remote, ...text] = warning.split(' ');
    process.stderr.write(`git-remote-daemon: warning: ${remote === DAEMON ? '' : `${remote}: `}${text.join(' ')}\n`);
  }
  if (result.code !== 0) fail(result.message, result.code);
  say(result.message);
}

function count(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('not a number of lines');
  return n;
}

function duration(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError('a duration such as 90s, 10m, 2h or 1d');
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] ?? 's']!;
  return Number(match[1]) * unit;
}

export function buildProgram(): Command {
  const program = rootCommand();
  addDaemonCommands(program);
  addMessageCommands(program);
  addRegistryCommands(program);
  addServerCommands(program);
  // A transport's own subcommands (p2p), through the registry.
  for (const transport of TRANSPORTS) transport.commands?.(program);
  addCompletionCommand(program);
  // Only the program itself: its subcommands keep commander's "too many arguments".
  program.allowExcessArguments(true);
  return program;
}

/** The program without a command: its options, its help, and what it does when run bare. */
function rootCommand(): Command {
  const program: Command = new Cli('git-remote-daemon')
    .description(
      'Keep this git repository in step with its remotes: hold a connection to each remote named in ' +
        "the repository's config, learn at once when its refs change, and fetch the change.",
    )
    .version(pkg.version, '-V, --version')
    .helpCommand(true)
    .showSuggestionAfterError(true)
    .option('-C <dir>', 'run as if started in <dir> (like git -C; before the command, for every command; may be repeated)', collect, [])
    .addOption(new Option('--foreground', 'run in the foreground, speaking the control protocol on stdin/stdout (stops at end of stdin)').conflicts('service'))
    .addOption(
      new Option('--service', 'run in the foreground for a service manager (systemd): control messages from .git/remote-daemon/control, log to stderr; stdin is not read'),
    )
    // The background daemon gets its repository's path here only so that its command line is long
    // enough to hold the process title naming the repository (Linux gives a title no more room).
    .addOption(new Option('--daemon-child [repository]').hideHelp())
    .option('--all', 'the shared daemon, serving every registered repository (see register) in one process: with --service in the foreground (the user unit git-remote-daemon.service), alone the same as start --all')
    .option('-v, --verbose', 'with --foreground: log details (git fetch output, reconnect reasons) to stderr (the other modes always log them)')
    .option('--force', 'with --foreground: run even though another daemon already runs in this repository')
    .addHelpText(
      'after',
      `
Run it inside a git repository (any subdirectory or linked worktree). Without a command it starts
the daemon in the background (as \`start\`) and returns; stop it with \`git remote-daemon stop\`.
Its files are in .git/remote-daemon/. Remotes are acted on when one of its transports serves
their URL:
${servedUrls().map((line) => `  ${line}`).join('\n')}
Set remote.<name>.remotedaemon=false to leave one out. One process can serve all of your
repositories instead: register each (register, list, unregister), then start --all; status --all
shows them, stop --all stops it; its files are in $XDG_STATE_HOME/git-remote-daemon/ (README: Many
repositories, one daemon). See man git-remote-daemon, README.md and docs/protocol.md.

${EXIT_CODES}`,
    )
    .hook('preAction', (_program, command) => {
      changeDirectory((program.opts() as { C: string[] }).C);
      if (command !== program) {
        endQuietlyOnBrokenPipe();
        oneLineCrashes();
      }
    })
    .action(async (options: { foreground?: boolean; service?: boolean; daemonChild?: string | boolean; verbose?: boolean; force?: boolean; all?: boolean }) => {
      // Without an action of its own, commander would take a misspelt command for an argument.
      if (program.args.length > 0) (program as unknown as { unknownCommand(): never }).unknownCommand();
      if (options.all && options.foreground) fail('--all runs with --service (or start --all), not --foreground', USAGE);
      if (options.all && (options.service || options.daemonChild)) {
        const { runHub } = await import('./hub/run.js');
        return runHub(options.service ? 'service' : 'background');
      }
      if (options.all) return startAll();
      if (options.foreground) return foreground(options);
      if (options.service || options.daemonChild) {
        const { runBackground } = await import('./background/run.js');
        return runBackground(options.service ? 'service' : 'background');
      }
      return start();
    });

  return program;
}

/** start, stop and status: the daemon itself, this repository's or (--all) the shared one. */
function addDaemonCommands(program: Command): void {
  program
    .command('start')
    .description('start the daemon in the background and return once it is up (the same as no command)')
    .option('--all', 'start the shared daemon that serves every registered repository (see register) instead')
    .action((options: { all?: boolean }) => (options.all || program.opts().all ? startAll() : start()));

  program
    .command('stop')
    .description(
      "stop this repository's daemon and wait until it is gone; where the shared daemon serves this repository, it stops serving this one alone (until it restarts or reloads, or register asks again)",
    )
    .option('--all', 'stop the shared daemon (every registered repository it serves)')
    .action(async (options: { all?: boolean }) => {
      endQuietlyOnBrokenPipe();
      if (options.all || program.opts().all) {
        const { stopHub } = await import('./hub/commands.js');
        const result = await guard(() => stopHub());
        (result.code === 0 ? process.stdout : process.stderr).write(`git-remote-daemon: ${result.message}\n`);
        process.exitCode = result.code;
        return;
      }
      const { stopCommand } = await import('./commands/stop.js');
      const result = await guard(() => stopCommand(process.cwd()));
      (result.code === 0 ? process.stdout : process.stderr).write(`git-remote-daemon: ${result.message}\n`);
      process.exitCode = result.code;
    });

  program
    .command('status')
    .description('show what the daemon and each remote are doing; exit code 0 when a daemon runs, 3 when none does')
    .option('--json', 'print the same as JSON, for scripts')
    .option('--check', 'health check: exit 0 when every remote is healthy, 2 when one is failing or disconnected too long')
    .addOption(new Option('--max-stale <duration>', 'with --check: how long a remote may be disconnected (e.g. 90s, 10m, 1h)').default(600_000, '10m').argParser(duration))
    .option('--all', "one line per registered repository: what serves it, remotes connected/total, last change, problems, or \"not served\"; exit 3 when no shared daemon runs")
    .action(async (options: { json?: boolean; check?: boolean; maxStale: number; all?: boolean }) => {
      endQuietlyOnBrokenPipe();
      if (options.all || program.opts().all) {
        const { statusAll } = await import('./hub/commands.js');
        const result = await guard(() => statusAll());
        process.stdout.write(`${result.text}\n`);
        process.exitCode = result.code;
        return;
      }
      const { statusCommand } = await import('./commands/status.js');
      const result = await guard(() => statusCommand(process.cwd(), options));
      process.stdout.write(`${result.text}\n`);
      process.exitCode = result.code;
    });
}

/** What is handed to the running daemon as a control message: pause, resume, reload, fetch, send; and its log. */
function addMessageCommands(program: Command): void {
  const simple: [Consumed['type'], string][] = [
    ['PAUSE', 'close every connection and stay idle until resume'],
    ['RESUME', 'reconnect everything now, skipping any backoff; retries remotes waiting for you'],
    ['RELOAD', 'make the daemon re-read the git config (it also notices config edits by itself)'],
  ];
  for (const [verb, description] of simple) {
    program
      .command(verb.toLowerCase())
      .description(description)
      .action(() => send(verb));
  }

  program
    .command('fetch')
    .description("fetch now through the daemon's connections, from the remotes named or from all; a remote the daemon does not act on is refused")
    .argument('[remote...]', 'remotes to fetch from (default: every remote the daemon acts on)')
    .option('--wait', "wait until each fetch finished and say how it went (git's error when it failed); exit 1 when one failed")
    .addOption(new Option('--timeout <duration>', 'with --wait: how long to wait for the fetches (e.g. 90s, 10m)').default(600_000, '10m').argParser(duration))
    .action(async (remotes: string[], options: { wait?: boolean; timeout: number }) => {
      const { fetchCommand } = await import('./commands/fetch.js');
      const result = await guard(() => fetchCommand(process.cwd(), remotes, { wait: options.wait, timeoutMs: options.timeout }, say));
      if (result.code !== 0) fail(result.message ?? 'the fetch failed', result.code);
    });

  program
    .command('send')
    .description('send one raw control message to the running daemon, e.g. PAUSE, RESUME, LOSTNET, RELOAD, FETCH, STOP, CHANGED <ref>...')
    .argument('<message...>', 'the message and its arguments')
    .action((words: string[]) => send(words.join(' ')));

  program
    .command('log')
    .description("print the daemon's log (UTC timestamps), the rotated-out part first")
    .option('-f, --follow', 'keep printing new lines until interrupted')
    .option('-n, --lines <count>', 'print only the last <count> lines', count)
    .action(async (options: { follow?: boolean; lines?: number }) => {
      endQuietlyOnBrokenPipe();
      const { logCommand } = await import('./commands/log.js');
      process.exitCode = await guard(() => logCommand(process.cwd(), options));
    });
}

/** The repositories the shared daemon serves: register, unregister, list. */
function addRegistryCommands(program: Command): void {
  program
    .command('register')
    .description('add the repository <dir> is in (default: this one) to those the shared daemon serves (remotedaemon.repo in the global git config); a running shared daemon starts serving it')
    .argument('[dir]', 'a directory in the repository (default: the current one)')
    .action(async (dir: string | undefined) => {
      const { register } = await import('./hub/registered.js');
      const { signalHub } = await import('./hub/commands.js');
      const result = await guard(() => register(dir ?? process.cwd()));
      const hub = await signalHub();
      say(`${result.added ? 'registered' : 'already registered:'} ${result.path}${hub ? `; the shared daemon (pid ${hub}) serves it` : '; start the shared daemon with `git remote-daemon start --all`'}`);
    });

  program
    .command('unregister')
    .description('remove the repository <dir> is in (default: this one) from those the shared daemon serves; a running shared daemon stops serving it (exit 0 also when it was not registered)')
    .argument('[dir]', 'a directory in the repository, or the registered path of one that is gone (default: the current directory)')
    .action(async (dir: string | undefined) => {
      const { unregister } = await import('./hub/registered.js');
      const { signalHub } = await import('./hub/commands.js');
      const result = await guard(() => unregister(dir ?? process.cwd()));
      if (result.removed) await signalHub();
      say(result.removed ? `unregistered ${result.path}` : `not registered: ${result.path}`);
    });

  program
    .command('list')
    .description('print the registered repositories, one path a line')
    .action(async () => {
      const { readRegistered } = await import('./hub/registered.js');
      const { paths } = await guard(() => readRegistered());
      for (const path of paths) process.stdout.write(`${path}\n`);
    });
}

/** What runs on the server: notifychanges, shell. */
function addServerCommands(program: Command): void {
  program
    .command('notifychanges')
    .description('server side: print READY, then CHANGED <sha>... whenever a ref of <repo> changes; ends at end of stdin')
    .argument('[repo]', 'repository to watch (default: the one this runs in)')
    .action(async (repo: string | undefined) => {
      const { runNotifyChanges } = await import('./server/notifychanges.js');
      process.exitCode = await runNotifyChanges(repo);
    });

  program
    .command('shell')
    .description('server side: restricted login command for authorized_keys; runs only notifychanges and git transfer commands from SSH_ORIGINAL_COMMAND (the same as git-remote-daemon-shell [basedir], which starts no Node)')
    .argument('[basedir]', 'refuse repositories outside this directory')
    .action(async (baseDir: string | undefined) => {
      const { runShell } = await import('./server/shell.js');
      process.exitCode = await runShell({ baseDir });
    });
}

function addCompletionCommand(program: Command): void {
  program
    .command('completion')
    .description('print the bash or zsh completion script, made from these very commands (see README: Shell completion)')
    .addArgument(new Argument('<shell>', 'bash or zsh').choices(['bash', 'zsh']))
    .action(async (shell: 'bash' | 'zsh') => {
      const { bashCompletion, zshCompletion } = await import('./completion.js');
      process.stdout.write(shell === 'bash' ? bashCompletion(buildProgram()) : zshCompletion(buildProgram()));
    });
}
