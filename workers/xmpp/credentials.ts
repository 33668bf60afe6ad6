// The XMPP account's password: from a file only its owner can read, or from git's credential
// helpers as `protocol=xmpp host=<domain> username=<local>`. A daemon has nobody to type into a
// prompt, so git is told never to ask (and a helper that would is the user's to fix, once).
// The password never appears in a log, a condition or an error message.

import { stat, readFile } from 'node:fs/promises';
import { run } from '../children.js';

export class CredentialProblem extends Error {
  override name = 'CredentialProblem';
}

export interface Account {
  local: string;
  domain: string;
}

export async function passwordFromFile(path: string): Promise<string> {
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    throw new CredentialProblem(`cannot read remotedaemon.xmpp.passwordFile ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  if ((info.mode & 0o077) !== 0) {
    throw new CredentialProblem(`remotedaemon.xmpp.passwordFile ${path} is readable by others (mode ${(info.mode & 0o777).toString(8)}); chmod 600 it`);
  }
  const password = (await readFile(path, 'utf8')).replace(/\r?\n$/, '');
  if (!password) throw new CredentialProblem(`remotedaemon.xmpp.passwordFile ${path} is empty`);
  return password;
}

function credentialInput(account: Account, password?: string): string {
  return `protocol=xmpp\nhost=${account.domain}\nusername=${account.local}\n${password !== undefined ? `password=${password}\n` : ''}\n`;
}

/** A helper that waits for something (a locked keyring's dialog) must not hold up the login for ever. */
const HELPER_TIMEOUT_MS = 30_000;

const NON_INTERACTIVE = { GIT_TERMINAL_PROMPT: '0', GCM_INTERACTIVE: 'never', GIT_ASKPASS: '', SSH_ASKPASS: '' };

export async function passwordFromGit(cwd: string, account: Account): Promise<string> {
  let stdout: string;
  try {
    ({ stdout } = await run('git', ['-c', 'credential.interactive=false', 'credential', 'fill'], {
      cwd,
      env: NON_INTERACTIVE,
      stdin: { string: credentialInput(account) },
      timeout: HELPER_TIMEOUT_MS,
    }));
  } catch {
    // git's stderr may echo what a helper printed; say only what the user needs to act.
    throw new CredentialProblem(`no password for ${account.local}@${account.domain} from git's credential helpers (store one with a helper for protocol=xmpp host=${account.domain}, or set remotedaemon.xmpp.passwordFile)`);
  }
  const password = /^password=(.*)$/m.exec(stdout)?.[1];
  if (!password) throw new CredentialProblem(`git's credential helpers gave no password for ${account.local}@${account.domain}`);
  return password;
}

/** Tell the helpers how the password did, as git does after using one. */
export async function reportToGit(cwd: string, account: Account, password: string, ok: boolean): Promise<void> {
  try {
    await run('git', ['-c', 'credential.interactive=false', 'credential', ok ? 'approve' : 'reject'], {
      cwd,
      env: NON_INTERACTIVE,
      stdin: { string: credentialInput(account, password) },
      timeout: HELPER_TIMEOUT_MS,
    });
  } catch {
    // a helper that cannot store is no reason to stay offline
  }
}
