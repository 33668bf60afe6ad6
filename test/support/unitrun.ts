// What the unit run (`npm run test:unit`, the files in test/unit.txt) refuses: starting a real
// server. Free of side effects, so that test helpers may import it; test/support/unitguard.ts is
// what installs the guard in the unit run.

import { basename } from 'node:path';

/** Throws when called in the unit run: for test helpers that start a real server in-process. */
export function refuseInUnitRun(what: string): void {
  if (process.env.GRD_TEST_UNIT === '1') throw new UnitRunError(what);
}

export class UnitRunError extends Error {
  constructor(what: string) {
    super(`${what}: a unit test starts no real server; take this file out of test/unit.txt (it belongs to npm test only)`);
  }
}

/** What a command line starts, when it is a server a unit test must not start. */
export function serverIn(file: string, args: readonly string[] = []): string | undefined {
  const program = basename(file);
  if (program === 'sshd') return 'sshd';
  if (program === 'prosody' || program === 'prosodyctl') return 'Prosody';
  if (program === 'git' && args.includes('daemon')) return 'git daemon';
  if (program === 'git-daemon') return 'git daemon';
  if (program === 'git-http-backend') return 'a git http server';
  return undefined;
}
