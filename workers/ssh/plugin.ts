// ssh remotes: `ssh://`, `git+ssh://`, `ssh+git://` and scp-like `[user@]host:path`.

import { last } from '../../src/config.js';
import { SSH_SCHEMES } from '../../src/kit/url.js';
import type { TransportPlugin } from '../plugin.js';

/** What an ssh remote reads from git's config, beyond what `ssh -G` resolves at connect time. */
export interface SshOptions {
  /** `core.sshCommand` (or `GIT_SSH_COMMAND` from the environment), as the user set it. */
  sshCommand?: string;
  /** Command run on the server to learn of changes (`remote.<name>.remotedaemon-notifier`). */
  notifier?: string;
}

export const sshPlugin: TransportPlugin = {
  name: 'ssh',
  network: true,
  claims: (_url, kind) => kind.kind === 'scp' || (kind.kind === 'scheme' && SSH_SCHEMES.includes(kind.scheme)),
  remoteOptions({ config, env, get }) {
    const options: SshOptions = {};
    // git gives GIT_SSH_COMMAND precedence over core.sshCommand, and so do we.
    const sshCommand = env.GIT_SSH_COMMAND || last(config, 'core.sshcommand');
    if (sshCommand) options.sshCommand = sshCommand;
    const notifier = get('remotedaemon-notifier');
    if (notifier) options.notifier = notifier;
    return { options: { ...options } };
  },
  load: () => import('./transport.js'),
};
