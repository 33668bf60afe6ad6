// A peer's address is its public key: `p2p://<key>`, the key in z-base-32 (52 characters, what we
// print) or hex (64). Cheap to import: the plugin, the CLI and the remote helper all parse these.

import { createHash } from 'node:crypto';
import { decode, encode } from 'hypercore-id-encoding';

export const SCHEME = 'p2p';

/** The public key (hex, lower case) an address names, or undefined when it names none. */
export function keyOf(url: string): string | undefined {
  const match = /^p2p:\/\/([A-Za-z0-9]{52}|[0-9A-Fa-f]{64})\/?$/.exec(url.trim());
  if (!match) return undefined;
  try {
    return decode(match[1]).toString('hex');
  } catch {
    return undefined;
  }
}

export function addressOf(publicKeyHex: string): string {
  return `${SCHEME}://${encode(Buffer.from(publicKeyHex, 'hex'))}`;
}

/** What two people read to each other to be sure they hold the same key: 8 groups of 4 hex digits. */
export function fingerprint(publicKeyHex: string): string {
  const digest = createHash('sha256').update(Buffer.from(publicKeyHex, 'hex')).digest('hex').slice(0, 32);
  return digest.match(/.{4}/g)!.join(' ');
}

/** A key as config may hold it (an address, z-base-32 or hex), as hex; undefined if it is none. */
export function parseKey(text: string): string | undefined {
  const t = text.trim();
  return keyOf(t.includes('://') ? t : `p2p://${t}`);
}
