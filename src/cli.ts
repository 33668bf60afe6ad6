// The entry point of `git-remote-daemon` (also `git remote-daemon`): parses the command line
// defined in program.ts and runs what it asks for.

import { buildProgram } from './program.js';

await buildProgram().parseAsync(process.argv);
