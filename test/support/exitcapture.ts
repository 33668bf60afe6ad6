// For tests of what ends the process with a message (the command line's errors, the background
// starter): process.exit and stderr are caught while `work` runs, so the test process lives on.

import type { TestContext } from 'node:test';

class Exited extends Error {}

/** Runs `work` with process.exit and stderr caught: what was written, and the exit code asked for. */
export async function caught(t: TestContext, work: () => unknown): Promise<{ stderr: string; exit?: number }> {
  const out: { stderr: string; exit?: number } = { stderr: '' };
  const write = t.mock.method(process.stderr, 'write', (chunk: string) => {
    out.stderr += chunk;
    return true;
  });
  const exit = t.mock.method(process, 'exit', (code?: number) => {
    out.exit = code;
    throw new Exited();
  });
  try {
    await work();
  } catch (err) {
    if (!(err instanceof Exited)) throw err;
  } finally {
    write.mock.restore();
    exit.mock.restore();
  }
  return out;
}
