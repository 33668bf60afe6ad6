// Local remotes: a path on this machine (a bare repository on the same disk, a USB drive, NFS) or
// a file:// URL. Needs no network, so LOSTNET leaves it running.

import type { TransportPlugin } from '../../shared/plugin.js';

export const localPlugin: TransportPlugin = {
  name: 'local',
  serves: 'local paths and file://',
  network: false,
  claims: (_url, kind) => kind.kind === 'path' || (kind.kind === 'scheme' && kind.scheme === 'file'),
  load: () => import('./transport.js'),
};
