// A long-lived child that must not outlive us, however we die. A child that reads its stdin ends at
// its EOF when we die (git cat-file does); one that never reads stdin, like `ip monitor`, would be
// left running under init after a `kill -9`. On Linux the kernel can signal a child when the
// thread that started it dies (prctl PR_SET_PDEATHSIG); util-linux's setpriv sets that and then
// execs the command in the same process, so the child's pid, output and exit are the command's own.
// The death signal follows the *thread* that spawned the child: call this from the thread that
// should own it (the main thread for daemon-wide children).

import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

function onPath(program: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, program), constants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}

let setpriv: boolean | undefined;

/** The command line that runs `file args` so that it is killed when this thread dies, where the
 * system can do that (setpriv on PATH); otherwise the command line unchanged. */
export function tiedToOurLife(file: string, args: readonly string[]): { file: string; args: string[] } {
  setpriv ??= process.platform === 'linux' && onPath('setpriv');
  return setpriv ? { file: 'setpriv', args: ['--pdeathsig', 'KILL', '--', file, ...args] } : { file, args: [...args] };
}
