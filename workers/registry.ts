// The coordinator's registry: every transport of the list (workers/transports.ts), loaded, and the
// notice carriers. Config asks it which transport claims a URL, status shows the names it gives.
// It is also the one door from src/ into workers/: the coordinator side imports nothing else of
// workers/ (test/layering.test.ts). A remote's worker never imports this module: it loads only its
// own transport's plugin (loadTransport in workers/transports.ts).

import { urlKind } from '../shared/kit/url.js';
import type { EndpointOwner, NoticeCarrierPlugin, TransportPlugin } from '../shared/plugin.js';
import { named, TRANSPORT_LIST } from './transports.js';
import { xmppCarrier } from './xmpp/plugin.js';

/**
 * The module a remote's worker thread runs (the pool's default task): the coordinator side names
 * worker code only through this file.
 */
export const SESSION_FILE = new URL('./session.js', import.meta.url);

export const TRANSPORTS: readonly TransportPlugin[] = await Promise.all(TRANSPORT_LIST.map(async (t) => named(t, await t.plugin())));

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

/** For messages: "local paths, file://, ssh" style list of what is served. */
export function servedKinds(): string {
  return TRANSPORTS.map((t) => t.name).join(', ');
}

/** For help and the man page, one transport a line: "local paths and file:// (local);", the last ending the sentence. */
export function servedUrls(): string[] {
  return TRANSPORTS.map((t, i) => `${t.serves ?? t.name} (${t.name})${i < TRANSPORTS.length - 1 ? ';' : '.'}`);
}
