// The fallback listing: `git ls-remote <remote>`, for remotes whose config our own request does not
// honour and servers that do not speak protocol v2. git then applies every setting itself. Its
// output is read line by line (never collected whole) and cut off at `maxBytes`.

import { OBJECT_ID } from '../../src/kit/objectid.js';
import { run } from '../children.js';
import { killGroup } from '../../src/kit/group.js';
import type { RefMap } from '../transport.js';
import { NeedsUser } from '../transport.js';
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

/** git's words for "I needed credentials and had none, or they were refused". */
const AUTH_FAILURE = /could not read (Username|Password)|Authentication failed|terminal prompts disabled|HTTP Basic: Access denied|\b40[13]\b/;

export async function lsRemote(options: LsRemoteOptions): Promise<RefMap> {
  // ls-remote matches patterns against the end of each name; `<prefix>*` with the filter below
  // keeps exactly the refs under the prefixes.
  const patterns = options.prefixes.map((p) => `${p}*`);
  const signal = AbortSignal.any([options.signal, AbortSignal.timeout(options.timeoutMs)]);
  const subprocess = run('git', [...NO_PROMPT_ARGS, 'ls-remote', options.remote, ...(patterns.length > 0 ? ['--', ...patterns] : [])], {
    cwd: options.cwd,
    env: NO_PROMPT_ENV,
    signal,
    stdin: 'ignore',
  });
  // nano-spawn's own abort ends git alone; its git-remote-http child must go too.
  const killAll = () => void subprocess.nodeChildProcess.then((child) => child.pid !== undefined && killGroup(child.pid, 'SIGKILL'), () => {});
  signal.addEventListener('abort', killAll, { once: true });
  const refs: RefMap = new Map();
  let received = 0;
  let tooLarge = false;
  try {
    for await (const line of subprocess.stdout) {
      received += line.length + 1;
      if (received > options.maxBytes) {
        tooLarge = true;
        const child = await subprocess.nodeChildProcess;
        if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
        break;
      }
      const tab = line.indexOf('\t');
      const oid = line.slice(0, tab);
      const name = line.slice(tab + 1);
      if (tab < 0 || !OBJECT_ID.test(oid)) throw new Error(`git ls-remote printed an unexpected line: ${JSON.stringify(line.slice(0, 120))}`);
      if (!name.endsWith('^{}')) refs.set(name, oid);
    }
    await subprocess;
  } catch (err) {
    if (tooLarge) throw new Error(`the ref listing of ${options.display} is over ${options.maxBytes} bytes`);
    if (options.signal.aborted) throw options.signal.reason;
    if (signal.aborted) throw new Error(`git ls-remote ${options.display} gave no answer within ${options.timeoutMs / 1000} s`);
    const stderr = String((err as { stderr?: string }).stderr ?? '').trim();
    const said = lastLines(stderr);
    if (AUTH_FAILURE.test(stderr)) {
      throw new NeedsUser(`${options.display} needs credentials git does not have (git said: ${said}). ${options.advice}`);
    }
    throw new Error(`git ls-remote ${options.display} failed: ${said || (err as Error).message}`);
  } finally {
    signal.removeEventListener('abort', killAll);
  }
  if (tooLarge) throw new Error(`the ref listing of ${options.display} is over ${options.maxBytes} bytes`);
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
