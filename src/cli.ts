// The entry point of `git-remote-daemon` (also `git remote-daemon`): parses the command line
// defined in program.ts and runs what it asks for. Whatever a command lets escape is still said in
// one line, with exit code 1: a person gets what failed, never a stack trace.

import { fail, FAILED } from './program.js';
import { buildProgram } from './program.js';

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  fail(err instanceof Error ? err.message : String(err), FAILED);
}
