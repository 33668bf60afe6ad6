// Which transport serves a remote. One file per transport; this is the only place that knows them all.
// Each is loaded only by the workers that need it: ssh2 alone adds several MB to a worker.

import type { RemoteSpec, RepoInfo } from '../src/workerapi.js';
import type { Transport } from './transport.js';

export async function createTransport(spec: RemoteSpec, repo: RepoInfo): Promise<Transport> {
  switch (spec.transport) {
    case 'local':
      return (await import('./local.js')).localTransport(spec, repo);
    case 'ssh':
      return (await import('./ssh.js')).sshTransport(spec, repo);
  }
}
