// `git remote-daemon send <MESSAGE>` and `reload`: hand a consumed message to the running daemon
// through its control FIFO, as one whole line in one write.

import { runningDaemon } from '../background/pidfile.js';
import { PIPE_BUF, writeControlLine } from '../background/fifo.js';
import { daemonPaths } from '../background/paths.js';
import { parseConsumed } from '../protocol.js';

export async function sendCommand(cwd: string, line: string): Promise<{ code: number; message?: string }> {
  const parsed = parseConsumed(line);
  if (!parsed.ok) return { code: 2, message: `not a message the daemon accepts: ${parsed.error}` };
  // Too long to arrive whole through the pipe: the caller's mistake, like any refused message.
  const bytes = Buffer.byteLength(line, 'utf8') + 1;
  if (bytes > PIPE_BUF) return { code: 2, message: `message is ${bytes} bytes; at most ${PIPE_BUF} (with its newline) arrive whole through the pipe` };
  const paths = await daemonPaths(cwd);
  if (!runningDaemon(paths.pidFile)) return { code: 3, message: 'no daemon is running in this repository' };
  // Anything that goes wrong from here (no reader on the pipe yet, a write error) is exit 1.
  try {
    await writeControlLine(paths.control, line);
  } catch (err) {
    return { code: 1, message: (err as Error).message };
  }
  return { code: 0 };
}
