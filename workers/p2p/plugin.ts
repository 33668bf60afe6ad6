// Peers: `p2p://<key>` remotes, reached over hyperdht through the repository's one peer node (a
// shared endpoint that runs the node in a child process of its own: see endpoint.ts).

import type { TransportPlugin } from '../../shared/plugin.js';
import { findGitDir } from '../../shared/kit/gitdir.js';
import { directSettings } from '../direct/plan.js';
import { keyOf } from './address.js';
import { keyFile, keyFileTag } from './identity.js';
import { registerP2p } from './cli.js';
import { readSettings } from './settings.js';

export const p2pPlugin: TransportPlugin = {
  name: 'p2p',
  serves: 'p2p:// peers',
  network: true,
  claims: (_url, kind) => kind.kind === 'scheme' && kind.scheme === 'p2p',
  remoteOptions({ name, url, config }) {
    const key = keyOf(url);
    if (!key) return { ignore: `${url} is not a peer address (p2p:// and a 52-character z-base-32 or 64-digit hex key)` };
    // What a peer sends is always checked (transfer.fsckObjects=true, as for its git fetch).
    return { options: { key, direct: directSettings(name, config, { fsck: true }) } };
  },
  load: () => import('./transport.js'),
  endpoint: {
    settings: (config) => {
      const read = readSettings(config);
      return read && { settings: { ...read.settings }, problems: read.problems };
    },
    // One node per key in a process, and a node serves one repository: a second repository of
    // the shared daemon holding the same key (both copied the user's) gets none, and is told.
    identity: (_settings, repo) => {
      let gitDir: string;
      try {
        gitDir = findGitDir(repo.gitDir);
      } catch {
        return undefined; // the node says what is wrong with the repository
      }
      const tag = keyFileTag(gitDir);
      if (tag === undefined) return undefined;
      return {
        key: tag,
        shared: false,
        describe: `this repository's peer key (${keyFile(gitDir)})`,
        unshared:
          'the same key: a peer node serves one repository, and two nodes with one identity would take each other\'s links; ' +
          'give one of them a key of its own (remove its remote-daemon/p2p-key: a new one is made, and its peers must allow the new address)',
      };
    },
    file: new URL('./endpoint.js', import.meta.url),
    // Its held links also carry change notices for remotes the peers share (workers/notice/).
    notices: true,
  },
  commands: registerP2p,
};
