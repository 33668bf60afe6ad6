// The command line: `git-remote-daemon` (also `git remote-daemon`). Parses arguments with
// commander and hands over to the daemon or to one of the server-side commands.

import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { ControlOutput } from './control.js';
import { armHardExit, exitWhenDone, startDaemon, type Daemon } from './daemon.js';

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

export function buildProgram(): Command {
  const program = new Command('git-remote-daemon')
    .description(
      'Keep this git repository in step with its remotes: hold a connection to each remote named in\n' +
        "the repository's config, learn at once when its refs change, and fetch the change.",
    )
    .version(pkg.version, '-V, --version')
    .addOption(new Option('--foreground', 'run in the foreground, speaking the control protocol on stdin/stdout (stops at end of stdin)'))
    .option('-v, --verbose', 'log details (git fetch output, reconnect reasons) to stderr')
    .addHelpText(
      'after',
      `
Run it inside a git repository. Remotes with a local path, file:// or ssh URL are acted on;
set remote.<name>.remotedaemon=false to leave one out. See README.md and docs/protocol.md.`,
    )
    .action(async (options: { foreground?: boolean; verbose?: boolean }) => {
      if (!options.foreground) fail('running in the background is not available yet; use --foreground', 2);
      await foreground(options);
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

  return program;
}

await buildProgram().parseAsync(process.argv);
