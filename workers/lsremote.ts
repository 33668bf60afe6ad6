// `git ls-remote` as a worker runs it: its output read line by line (never collected whole) and cut
// off at `maxBytes`, of its stderr (where a server's error page or `remote:` lines end up) only a
// bounded tail, and a deadline. Whatever the remote side sends, a listing costs a bounded amount of
// memory and time. Used by http's fallback listing and by p2p's listing over the held link.

import { OBJECT_ID } from '../shared/kit/objectid.js';
import { BoundedLines } from '../shared/kit/lines.js';
import { killGroup } from '../shared/kit/group.js';
import { withDeadline } from '../shared/kit/deadline.js';
import type { RefMap } from '../shared/transport.js';
import { runStreamed } from './children.js';
import { STDERR_TAIL_CHARS, TailBuffer } from './tail.js';

export interface LsRemoteRun {
  cwd: string;
  /** git's arguments, `ls-remote` and what follows it included. */
  args: readonly string[];
  env: NodeJS.ProcessEnv;
  /** Ends the listing early (the connection it belongs to is closed); it then rejects with the reason. */
  signal: AbortSignal;
  timeoutMs: number;
  maxBytes: number;
  /** The remote as messages name it (no userinfo). */
  display: string;
}

/** git ls-remote ran and failed: its exit and the tail of what it said, for the caller to explain. */
export class LsRemoteFailed extends Error {
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(message);
  }
}

/** A ref line is an object id, a tab and a ref name: git's own limit on a pkt-line is far above any. */
const MAX_LINE_BYTES = 64 * 1024;

/** The refs git lists (peeled `^{}` lines left out), or an error saying why there are none. */
export async function runLsRemote(options: LsRemoteRun): Promise<RefMap> {
  const deadline = withDeadline(options.signal, options.timeoutMs);
  const signal = deadline.signal;
  const child = runStreamed('git', options.args, { cwd: options.cwd, env: options.env, stdout: true });
  // Ends git and its remote helper together.
  const killAll = () => child.pid !== undefined && killGroup(child.pid, 'SIGKILL');
  if (signal.aborted) killAll();
  else signal.addEventListener('abort', killAll, { once: true });
  const refs: RefMap = new Map();
  let received = 0;
  let tooLarge = false;
  let unexpected: string | undefined;
  const stderr = new TailBuffer(STDERR_TAIL_CHARS);
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
  const lines = new BoundedLines(
    {
      line(line) {
        if (unexpected !== undefined) return;
        const tab = line.indexOf('\t');
        const oid = line.slice(0, tab);
        const name = line.slice(tab + 1);
        if (tab < 0 || !OBJECT_ID.test(oid)) {
          unexpected = `git ls-remote printed an unexpected line: ${JSON.stringify(line.slice(0, 120))}`;
          killAll();
        } else if (!name.endsWith('^{}')) refs.set(name, oid);
      },
      overlong() {},
      exceeded() {
        unexpected ??= 'git ls-remote printed a line longer than any ref line';
        killAll();
      },
    },
    MAX_LINE_BYTES,
  );
  child.stdout!.on('data', (chunk: Buffer) => {
    if (tooLarge || unexpected !== undefined) return;
    received += chunk.length;
    if (received > options.maxBytes) {
      tooLarge = true;
      return void killAll();
    }
    lines.push(chunk);
  });
  const { code, error } = await new Promise<{ code: number | null; error?: Error }>((resolve) => {
    let error: Error | undefined;
    child.once('error', (err) => (error = err));
    child.once('close', (code) => resolve({ code, ...(error && { error }) }));
  });
  signal.removeEventListener('abort', killAll);
  deadline.clear();
  if (tooLarge) throw new Error(`the ref listing of ${options.display} is over ${options.maxBytes} bytes`);
  if (options.signal.aborted) throw options.signal.reason instanceof Error ? options.signal.reason : new Error('the listing was ended');
  if (signal.aborted) throw new Error(`git ls-remote ${options.display} gave no answer within ${options.timeoutMs / 1000} s`);
  if (unexpected !== undefined) throw new Error(unexpected);
  if (code !== 0 || error) {
    const text = stderr.text().trim();
    throw new LsRemoteFailed(`git ls-remote ${options.display} failed: ${lastLines(text) || error?.message || `exit ${code}`}`, text);
  }
  lines.end();
  return refs;
}

/** git's last complaint, short, and with any userinfo in URLs removed. */
export function lastLines(stderr: string): string {
  return stderr
    .split('\n')
    .slice(-3)
    .join(' ')
    .replace(/([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/@\s']*@/g, '$1')
    .slice(0, 400);
}
