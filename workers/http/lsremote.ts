// The fallback listing: `git ls-remote <remote>`, for remotes whose config our own request does not
// honour and servers that do not speak protocol v2. git then applies every setting itself. Its
// output is read line by line (never collected whole) and cut off at `maxBytes`; of its stderr
// (where a server's error page ends up) only a bounded tail is kept.

import { OBJECT_ID } from '../../shared/kit/objectid.js';
import { BoundedLines } from '../../shared/kit/lines.js';
import { runStreamed } from '../children.js';
import { STDERR_TAIL_CHARS, TailBuffer } from '../tail.js';
import { killGroup } from '../../shared/kit/group.js';
import type { RefMap } from '../../shared/transport.js';
import { NeedsUser } from '../../shared/transport.js';
import { NO_PROMPT_ARGS, NO_PROMPT_ENV } from './noprompt.js';
import { underPrefixes } from './refprefixes.js';

export interface LsRemoteOptions {
  cwd: string;
  /** The remote's name: git then uses its URL and its remote.<name>.* settings. */
  remote: string;
  prefixes: readonly string[];
  signal: AbortSignal;
  timeoutMs: number;
  maxBytes: number;
  /** For messages: the URL without userinfo. */
  display: string;
  /** What to tell the user when git has no usable credentials. */
  advice: string;
}

/** A ref line is an object id, a tab and a ref name: git's own limit on a pkt-line is far above any. */
const MAX_LINE_BYTES = 64 * 1024;

/** git's words for "I needed credentials and had none, or they were refused". */
const AUTH_FAILURE = /could not read (Username|Password)|Authentication failed|terminal prompts disabled|HTTP Basic: Access denied|\b40[13]\b/;

export async function lsRemote(options: LsRemoteOptions): Promise<RefMap> {
  // ls-remote matches patterns against the end of each name; `<prefix>*` with the filter below
  // keeps exactly the refs under the prefixes.
  const patterns = options.prefixes.map((p) => `${p}*`);
  const signal = AbortSignal.any([options.signal, AbortSignal.timeout(options.timeoutMs)]);
  const child = runStreamed('git', [...NO_PROMPT_ARGS, 'ls-remote', options.remote, ...(patterns.length > 0 ? ['--', ...patterns] : [])], {
    cwd: options.cwd,
    env: { ...process.env, ...NO_PROMPT_ENV },
    stdout: true,
  });
  // Ends git and its git-remote-http child together.
  const killAll = () => child.pid !== undefined && killGroup(child.pid, 'SIGKILL');
  signal.addEventListener('abort', killAll, { once: true });
  const refs: RefMap = new Map();
  let received = 0;
  let tooLarge = false;
  let unexpected: string | undefined;
  // git's stderr carries what the server says (an error page's text, `remote:` lines): its tail only.
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
  if (tooLarge) throw new Error(`the ref listing of ${options.display} is over ${options.maxBytes} bytes`);
  if (options.signal.aborted) throw options.signal.reason;
  if (signal.aborted) throw new Error(`git ls-remote ${options.display} gave no answer within ${options.timeoutMs / 1000} s`);
  if (unexpected !== undefined) throw new Error(unexpected);
  if (code !== 0 || error) {
    const text = stderr.text().trim();
    const said = lastLines(text);
    if (AUTH_FAILURE.test(text)) {
      throw new NeedsUser(`${options.display} needs credentials git does not have (git said: ${said}). ${options.advice}`);
    }
    throw new Error(`git ls-remote ${options.display} failed: ${said || error?.message || `exit ${code}`}`);
  }
  lines.end();
  return underPrefixes(refs, options.prefixes);
}

/** git's last complaint, short, and with any userinfo in URLs removed. */
function lastLines(stderr: string): string {
  return stderr
    .split('\n')
    .slice(-3)
    .join(' ')
    .replace(/([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/@\s']*@/g, '$1')
    .slice(0, 400);
}
