// Which transport serves a remote. One file per transport; this is the only place that knows them all.

import type { RemoteSpec, RepoInfo } from '../src/workerapi.js';
import { localTransport } from './local.js';
import { sshTransport } from './ssh.js';
import type { Transport } from './transport.js';

export function createTransport(spec: RemoteSpec, repo: RepoInfo): Transport {
  switch (spec.transport) {
    case 'local':
      return localTransport(spec, repo);
    case 'ssh':
      return sshTransport(spec, repo);
  }
}
