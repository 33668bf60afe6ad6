// The only list of transports. Config asks it which transport claims a URL, status shows the
// names it gives, the worker loads the one a remote names. Adding a transport is one folder with
// a plugin.ts and one line here. It is also the one door from src/ into workers/: the coordinator
// side imports nothing else of workers/ (test/layering.test.ts).

import { urlKind } from '../shared/kit/url.js';
import { httpPlugin } from './http/plugin.js';
import { localPlugin } from './local/plugin.js';
import { p2pPlugin } from './p2p/plugin.js';
import type { EndpointOwner, NoticeCarrierPlugin, TransportPlugin } from '../shared/plugin.js';
import { sshPlugin } from './ssh/plugin.js';
import { xmppCarrier } from './xmpp/plugin.js';

/**
 * The module a remote's worker thread runs (the pool's default task): the coordinator side names
 * worker code only through this file.
 */
export const SESSION_FILE = new URL('./session.js', import.meta.url);

export const TRANSPORTS: readonly TransportPlugin[] = [localPlugin, sshPlugin, httpPlugin, p2pPlugin];

/** Carriers of change notices between the user's devices, for remotes of every transport. */
export const NOTICE_CARRIERS: readonly NoticeCarrierPlugin[] = [xmppCarrier];

/** Everything that may run a shared endpoint (names are unique across both lists). */
export const ENDPOINT_OWNERS: readonly EndpointOwner[] = [...TRANSPORTS, ...NOTICE_CARRIERS];

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

/** For help and the man page, one transport a line: "local paths and file:// (local);", the last ending the sentence. */
export function servedUrls(): string[] {
  return TRANSPORTS.map((t, i) => `${t.serves ?? t.name} (${t.name})${i < TRANSPORTS.length - 1 ? ';' : '.'}`);
}
