// ssh remotes: `ssh://`, `git+ssh://`, `ssh+git://` and scp-like `[user@]host:path`.

import { last } from '../../shared/gitconfig.js';
import { SSH_SCHEMES } from '../../shared/kit/url.js';
import type { TransportPlugin } from '../../shared/plugin.js';
import type { SshOptions } from './options.js';
import { directSettings } from '../direct/plan.js';

export const sshPlugin: TransportPlugin = {
  name: 'ssh',
  serves: 'ssh://, git+ssh:// and [user@]host:path',
  network: true,
  claims: (_url, kind) => kind.kind === 'scp' || (kind.kind === 'scheme' && SSH_SCHEMES.includes(kind.scheme)),
  remoteOptions({ name, config, env, get }) {
    const options: SshOptions = { direct: directSettings(name, config) };
    // git gives GIT_SSH_COMMAND precedence over core.sshCommand, and so do we.
    const sshCommand = env.GIT_SSH_COMMAND || last(config, 'core.sshcommand');
    if (sshCommand) options.sshCommand = sshCommand;
    const notifier = get('remotedaemon-notifier');
    if (notifier) options.notifier = notifier;
    return { options: { ...options } };
  },
  load: () => import('./transport.js'),
};
