// `git-remote-daemon shell [<basedir>]` without the CLI: bin/git-remote-daemon comes straight here
// for that exact command line and runs bin/git-remote-daemon-shell (src/server/shell.ts), the
// restricted shell itself. Anything else (`shell --help`, a second argument) goes through the CLI.
// A forced command should name bin/git-remote-daemon-shell directly: no Node start at all.

import { runShell } from './shell.js';

process.exitCode = await runShell({ baseDir: process.argv[3] });
