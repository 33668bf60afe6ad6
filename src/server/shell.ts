// `git-remote-daemon shell [<basedir>]`: the restricted shell's older name. The shell itself is
// bin/git-remote-daemon-shell, a POSIX sh script and the only place its rules live (the command
// forms, git's quoting, the path forms and the base directory): a forced command runs it without
// starting Node, which would cost more than the git transfer. This runs that same script with the
// session's stdio and environment, passes hang-ups on and exits as it did, so that keys set up with
// `command="git-remote-daemon shell /srv/git"` keep working (one Node start slower). See
// docs/server.md, "The restricted shell".

// node:child_process rather than nano-spawn: the script's (and git's) stdio is the ssh session's
// own (inherited, the pack data never passes through us), and its end is mirrored exactly.
import { spawn } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { fileURLToPath } from 'node:url';

/** bin/git-remote-daemon-shell of this installation (dist/src/server -> bin). */
export const SHELL_SCRIPT = fileURLToPath(new URL('../../../bin/git-remote-daemon-shell', import.meta.url));

export interface ShellOptions {
  /** Confine repositories to this directory; relative paths are then taken relative to it. */
  baseDir?: string;
  /** The environment the script sees, SSH_ORIGINAL_COMMAND included (default process.env). */
  env?: NodeJS.ProcessEnv;
}

/** Runs the restricted shell; resolves to its exit code (128 + n when signal n ended it). */
export function runShell(opts: ShellOptions = {}): Promise<number> {
  return new Promise((resolvePromise) => {
    const args = opts.baseDir === undefined ? [] : [opts.baseDir];
    const child = spawn(SHELL_SCRIPT, args, { stdio: 'inherit', env: opts.env ?? process.env });
    const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
    const handlers = (['SIGHUP', 'SIGTERM', 'SIGINT'] as const).map((s) => [s, forward(s)] as const);
    for (const [s, h] of handlers) process.on(s, h);
    const done = (code: number) => {
      for (const [s, h] of handlers) process.off(s, h);
      resolvePromise(code);
    };
    child.once('error', (err) => {
      process.stderr.write(`git-remote-daemon shell: cannot run ${SHELL_SCRIPT}: ${err.message}\n`);
      done(1);
    });
    child.once('exit', (code, signal) => done(code ?? 128 + (signal ? osConstants.signals[signal] : 0)));
  });
}
