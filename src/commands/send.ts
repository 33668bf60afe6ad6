// `git remote-daemon send <MESSAGE>` and `reload`: hand a consumed message to the running daemon
// through its control FIFO, as one whole line in one write.

import { runningDaemon } from '../background/pidfile.js';
import { writeControlLine } from '../background/fifo.js';
import { daemonPaths } from '../background/paths.js';
import { parseConsumed } from '../protocol.js';

export async function sendCommand(cwd: string, line: string): Promise<{ code: number; message?: string }> {
  const parsed = parseConsumed(line);
  if (!parsed.ok) return { code: 2, message: `not a message the daemon accepts: ${parsed.error}` };
  const paths = await daemonPaths(cwd);
  if (!runningDaemon(paths.pidFile)) return { code: 3, message: 'no daemon is running in this repository' };
  try {
    await writeControlLine(paths.control, line);
  } catch (err) {
    return { code: 1, message: (err as Error).message };
  }
  return { code: 0 };
}
