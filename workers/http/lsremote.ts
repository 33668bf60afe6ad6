// The fallback listing: `git ls-remote <remote>`, for remotes whose config our own request does not
// honour and servers that do not speak protocol v2. git then applies every setting itself; what
// bounds the listing (bytes, time, stderr) is workers/lsremote.ts. What is http's own: no prompts,
// only the refs under the fetched prefixes, and a credentials failure told as one the user must mend.

import type { RefMap } from '../../shared/transport.js';
import { LsRemoteFailed, lastLines, runLsRemote } from '../lsremote.js';
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

/** git's words for "I needed credentials and had none, or they were refused". */
const AUTH_FAILURE = /could not read (Username|Password)|Authentication failed|terminal prompts disabled|HTTP Basic: Access denied|\b40[13]\b/;

export async function lsRemote(options: LsRemoteOptions): Promise<RefMap> {
  // ls-remote matches patterns against the end of each name; `<prefix>*` with the filter below
  // keeps exactly the refs under the prefixes.
  const patterns = options.prefixes.map((p) => `${p}*`);
  try {
    const refs = await runLsRemote({
      cwd: options.cwd,
      args: [...NO_PROMPT_ARGS, 'ls-remote', options.remote, ...(patterns.length > 0 ? ['--', ...patterns] : [])],
      env: { ...process.env, ...NO_PROMPT_ENV },
      signal: options.signal,
      timeoutMs: options.timeoutMs,
      maxBytes: options.maxBytes,
      display: options.display,
    });
    return underPrefixes(refs, options.prefixes);
  } catch (err) {
    if (err instanceof LsRemoteFailed && AUTH_FAILURE.test(err.stderr)) {
      throw new NeedsUser(`${options.display} needs credentials git does not have (git said: ${lastLines(err.stderr)}). ${options.advice}`);
    }
    throw err;
  }
}
