// Credentials the way git gets them, and never by asking anyone: `git credential fill` with every
// prompt off, then `approve` when the server accepted them and `reject` when it refused them, as
// git does after each request. We always pass the path; git drops it itself unless
// credential.useHttpPath (or credential.<url>.useHttpPath) says otherwise.

import type { GitConfig } from '../../shared/gitconfig.js';
import { run } from '../children.js';
import { NO_PROMPT_ARGS, NO_PROMPT_ENV } from './noprompt.js';
import type { RemoteUrl } from './urls.js';

/** What `git credential fill` answered, every attribute kept to hand back to approve/reject. */
export interface Credential {
  username: string;
  password: string;
  attributes: [string, string][];
}

/** The description git's credential helpers receive for `url` (protocol, host, path, user). */
export function describe(url: RemoteUrl): string {
  const host = url.port !== undefined ? `${url.host}:${url.port}` : url.host;
  const lines = [`protocol=${url.scheme}`, `host=${host}`, `path=${decodeURIComponent(url.path.replace(/^\//, ''))}`];
  if (url.username !== undefined) lines.push(`username=${url.username}`);
  if (url.password !== undefined) lines.push(`password=${url.password}`);
  return lines.join('\n') + '\n\n';
}

/** Credentials for `url`, or undefined when nothing has any (git would have had to prompt). */
export async function fill(cwd: string, url: RemoteUrl, signal: AbortSignal): Promise<Credential | undefined> {
  if (url.username !== undefined && url.password !== undefined) {
    // In the URL itself: git uses them as they are, and so do we.
    return { username: url.username, password: url.password, attributes: [] };
  }
  let stdout: string;
  try {
    ({ stdout } = await runCredential(cwd, 'fill', describe(url), signal));
  } catch {
    signal.throwIfAborted();
    return undefined; // with prompts off, git dies with "could not read Username": nobody has them
  }
  const attributes: [string, string][] = [];
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) attributes.push([line.slice(0, eq), line.slice(eq + 1)]);
  }
  const get = (key: string) => attributes.find(([k]) => k === key)?.[1];
  const username = get('username');
  const password = get('password');
  if (username === undefined || password === undefined) return undefined;
  return { username, password, attributes };
}

/** Tells the helpers the server took (`approve`) or refused (`reject`) these credentials. */
export async function report(cwd: string, verdict: 'approve' | 'reject', credential: Credential, signal: AbortSignal): Promise<void> {
  if (credential.attributes.length === 0) return; // from the URL: no helper to tell
  const input = credential.attributes.map(([k, v]) => `${k}=${v}`).join('\n') + '\n\n';
  try {
    await runCredential(cwd, verdict, input, signal);
  } catch {
    // A helper that cannot store or erase is no reason to fail the listing.
  }
}

/** A helper that waits for something (a locked keyring's dialog) must not hold up the listing for ever. */
const HELPER_TIMEOUT_MS = 30_000;

function runCredential(cwd: string, action: string, input: string, signal: AbortSignal) {
  // spawn's own timeout, as for the XMPP account's helpers (workers/xmpp/credentials.ts): no
  // AbortSignal.timeout, which a garbage collection can take away (shared/kit/deadline.ts).
  return run('git', [...NO_PROMPT_ARGS, 'credential', action], {
    cwd,
    env: NO_PROMPT_ENV,
    stdin: { string: input },
    signal,
    timeout: HELPER_TIMEOUT_MS,
  });
}

/**
 * The configured helpers, named without their arguments: `store --file x` is "store", a shell
 * snippet (which may hold a password) is only "a shell command".
 */
export function helperNames(config: GitConfig): string[] {
  const names: string[] = [];
  for (const helper of config.get('credential.helper') ?? []) {
    if (helper === '') names.length = 0; // an empty value resets the list, as in git
    else names.push(helper.startsWith('!') ? 'a shell command' : helper.trim().split(/\s+/)[0]);
  }
  return names;
}

/** What to tell the user when no credentials work: which helper, which URL, what then. */
export function credentialAdvice(helpers: readonly string[], display: string): string {
  const which = helpers.length > 0 ? `credential.helper: ${helpers.join(', ')}` : 'no credential.helper is configured';
  return `Store credentials for ${display} where git finds them (${which}; e.g. run \`git fetch\` there once by hand), then RESUME or RELOAD.`;
}
