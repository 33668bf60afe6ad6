// `git remote-daemon send <MESSAGE>` (and pause, resume, reload, fetch): hand a consumed message
// to the running daemon through its control FIFO, as one whole line in one write.

import { PIPE_BUF, writeControlLine } from '../background/fifo.js';
import { daemonPaths } from '../background/paths.js';
import { parseConsumed } from '../protocol.js';
import { findDaemon } from './finddaemon.js';

export const REFUSED = 2;
export const NOT_RUNNING = 3;

export async function sendCommand(cwd: string, line: string): Promise<{ code: number; message?: string; pid?: number }> {
  const parsed = parseConsumed(line);
  if (!parsed.ok) return { code: REFUSED, message: `not a message the daemon accepts: ${parsed.error}` };
  // Too long to arrive whole through the pipe: the caller's mistake, like any refused message.
  const bytes = Buffer.byteLength(line, 'utf8') + 1;
  if (bytes > PIPE_BUF) return { code: REFUSED, message: `message is ${bytes} bytes; at most ${PIPE_BUF} (with its newline) arrive whole through the pipe` };
  const paths = await daemonPaths(cwd);
  const daemon = await findDaemon(paths);
  if (!daemon) return { code: NOT_RUNNING, message: 'no daemon is running in this repository' };
  if (daemon.mode === 'foreground') {
    return { code: 1, message: `the daemon here (pid ${daemon.pid}) runs with --foreground: it takes messages on its stdin, not through the control pipe` };
  }
  // Anything that goes wrong from here (no reader on the pipe yet, a write error) is exit 1.
  try {
    await writeControlLine(paths.control, line);
  } catch (err) {
    return { code: 1, message: (err as Error).message, pid: daemon.pid };
  }
  return { code: 0, pid: daemon.pid };
}
