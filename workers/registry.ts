// The only list of transports. Config asks it which transport claims a URL, status shows the
// names it gives, the worker loads the one a remote names. Adding a transport is one folder with
// a plugin.ts and one line here.

import { urlKind } from '../src/kit/url.js';
import { localPlugin } from './local/plugin.js';
import { p2pPlugin } from './p2p/plugin.js';
import type { TransportPlugin } from './plugin.js';
import { sshPlugin } from './ssh/plugin.js';

export const TRANSPORTS: readonly TransportPlugin[] = [localPlugin, sshPlugin, p2pPlugin];

/** The transport that serves `url` (already rewritten by insteadOf), if any. */
export function transportFor(url: string): TransportPlugin | undefined {
  const kind = urlKind(url);
  if (kind.kind === 'helper') return undefined; // git-remote-<helper>: nothing we can watch
  return TRANSPORTS.find((t) => t.claims(url, kind));
}

export function transportNamed(name: string): TransportPlugin | undefined {
  return TRANSPORTS.find((t) => t.name === name);
}

/** For messages: "local paths, file://, ssh" style list of what is served. */
export function servedKinds(): string {
  return TRANSPORTS.map((t) => t.name).join(', ');
}
