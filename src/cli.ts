// The command line: `git-remote-daemon` (also `git remote-daemon`). Parses arguments with
// commander and hands over to the daemon or to one of the server-side commands.

import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { ControlOutput } from './control.js';
import { armHardExit, exitWhenDone, startDaemon, type Daemon } from './daemon.js';
import { registerP2p } from './commands/p2p.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

function fail(message: string, code = 1): never {
  process.stderr.write(`git-remote-daemon: ${message}\n`);
  process.exit(code);
}

async function foreground(options: { verbose?: boolean }): Promise<void> {
  const log = options.verbose ? (text: string) => process.stderr.write(`${text}\n`) : () => {};
  let daemon: Daemon | undefined;
  try {
    daemon = await startDaemon(process.cwd(), {
      input: process.stdin,
      output: new ControlOutput(process.stdout, () => void daemon?.stop()),
      log,
      onStopping: armHardExit,
    });
  } catch (err) {
    fail((err as Error).message);
  }
  exitWhenDone(daemon!);
}

/**
 * For the client commands (start, stop, status, send, reload, log): a reader that goes away
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

async function send(words: string[]): Promise<void> {
  endQuietlyOnBrokenPipe();
  const { sendCommand } = await import('./commands/send.js');
  const result = await guard(() => sendCommand(process.cwd(), words.join(' ')));
  if (result.message) process.stderr.write(`git-remote-daemon: ${result.message}\n`);
  process.exitCode = result.code;
}

export function buildProgram(): Command {
  const program = new Command('git-remote-daemon')
    .description(
      'Keep this git repository in step with its remotes: hold a connection to each remote named in ' +
        "the repository's config, learn at once when its refs change, and fetch the change.",
    )
    .version(pkg.version, '-V, --version')
    .addOption(new Option('--foreground', 'run in the foreground, speaking the control protocol on stdin/stdout (stops at end of stdin)').conflicts('service'))
    .addOption(
      new Option('--service', 'run in the foreground for a service manager (systemd): control messages from .git/remote-daemon/control, log to stderr; stdin is not read'),
    )
    .addOption(new Option('--daemon-child').hideHelp())
    .option('-v, --verbose', 'with --foreground: log details (git fetch output, reconnect reasons) to stderr (the other modes always log them)')
    .addHelpText(
      'after',
      `
Run it inside a git repository (any subdirectory or linked worktree). Without options it starts
the daemon in the background and returns; stop it with \`git remote-daemon stop\`. Its files are in
.git/remote-daemon/. Remotes with a local path, file:// or ssh URL are acted on; set
remote.<name>.remotedaemon=false to leave one out. See README.md and docs/protocol.md.`,
    )
    .action(async (options: { foreground?: boolean; service?: boolean; daemonChild?: boolean; verbose?: boolean }) => {
      if (options.foreground) return foreground(options);
      if (options.service || options.daemonChild) {
        const { runBackground } = await import('./background/run.js');
        return runBackground(options.service ? 'service' : 'background');
      }
      endQuietlyOnBrokenPipe();
      const { startInBackground } = await import('./background/start.js');
      const result = await startInBackground(process.cwd());
      if (result.code !== 0) fail(result.message, result.code);
      process.stdout.write(`git-remote-daemon: ${result.message}\n`);
    });

  program
    .command('stop')
    .description("stop this repository's background daemon and wait until it is gone")
    .action(async () => {
      endQuietlyOnBrokenPipe();
      const { stopCommand } = await import('./commands/stop.js');
      const result = await guard(() => stopCommand(process.cwd()));
      (result.code === 0 ? process.stdout : process.stderr).write(`git-remote-daemon: ${result.message}\n`);
      process.exitCode = result.code;
    });

  program
    .command('status')
    .description('show what the daemon and each remote are doing; exit code 0 when a daemon runs, 3 when none does')
    .option('--json', 'print the state as JSON, for scripts')
    .action(async (options: { json?: boolean }) => {
      endQuietlyOnBrokenPipe();
      const { statusCommand } = await import('./commands/status.js');
      const result = await guard(() => statusCommand(process.cwd(), options));
      process.stdout.write(`${result.text}\n`);
      process.exitCode = result.code;
    });

  program
    .command('reload')
    .description('make the daemon re-read the git config (it also notices config edits by itself)')
    .action(() => send(['RELOAD']));

  program
    .command('send')
    .description('send one control message to the running daemon, e.g. PAUSE, RESUME, LOSTNET, RELOAD, STOP, CHANGED <ref>...')
    .argument('<message...>', 'the message and its arguments')
    .action((words: string[]) => send(words));

  program
    .command('log')
    .description("print the background daemon's log")
    .option('-f, --follow', 'keep printing new lines until interrupted')
    .action(async (options: { follow?: boolean }) => {
      endQuietlyOnBrokenPipe();
      const { logCommand } = await import('./commands/log.js');
      process.exitCode = await guard(() => logCommand(process.cwd(), options));
    });

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
    .description('server side: restricted login command for authorized_keys; runs only notifychanges and git transfer commands from SSH_ORIGINAL_COMMAND')
    .argument('[basedir]', 'refuse repositories outside this directory')
    .action(async (baseDir: string | undefined) => {
      const { runShell } = await import('./server/shell.js');
      process.exitCode = await runShell({ baseDir });
    });

  // Peers (workers/p2p): the subcommands live in their own module; this is only their registration.
  registerP2p(program);

  return program;
}

await buildProgram().parseAsync(process.argv);
