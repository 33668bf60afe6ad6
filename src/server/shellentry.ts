// `git-remote-daemon shell [<basedir>]` without the CLI: bin/git-remote-daemon comes straight here
// for that exact command line, so that a git transfer through the restricted shell pays for one
// bare Node start and this module's few imports, not for commander and the daemon's modules
// (measured side by side with git-shell in bench/ssh.ts). Anything else (`shell --help`, a
// second argument) goes through the CLI as before.

import { runShell } from './shell.js';

process.exitCode = await runShell({ baseDir: process.argv[3] });
