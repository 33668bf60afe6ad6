// Peers: `p2p://<key>` remotes, reached over hyperdht through the daemon's one peer node (a shared
// endpoint that runs the node in a child process of its own: see endpoint.ts).

import type { TransportPlugin } from '../../shared/plugin.js';
import { keyOf } from './address.js';
import { registerP2p } from './cli.js';
import { readSettings } from './settings.js';

export const p2pPlugin: TransportPlugin = {
  name: 'p2p',
  serves: 'p2p:// peers',
  network: true,
  claims: (_url, kind) => kind.kind === 'scheme' && kind.scheme === 'p2p',
  remoteOptions({ url }) {
    const key = keyOf(url);
    if (!key) return { ignore: `${url} is not a peer address (p2p:// and a 52-character z-base-32 or 64-digit hex key)` };
    return { options: { key } };
  },
  load: () => import('./transport.js'),
  endpoint: {
    settings: (config) => {
      const read = readSettings(config);
      return read && { settings: { ...read.settings }, problems: read.problems };
    },
    file: new URL('./endpoint.js', import.meta.url),
    // Its held links also carry change notices for remotes the peers share (workers/notice/).
    notices: true,
  },
  commands: registerP2p,
};
