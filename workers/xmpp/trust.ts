// Whom each repository that shares one XMPP login trusts. The login hears every account some
// repository trusts (the union: its stanza filter and presence subscriptions), but each
// repository's remotes hear, and tell their news to, only our own account's other daemons and the
// accounts that repository trusts: one repository's trust never reaches into another's.

import { jid as parseJid } from '@xmpp/client';
import type { Audience } from '../notice/hub.js';
import { BARE_JID, MAX_TRUST } from './plugin.js';

/** An account as compared everywhere: the bare JID as the client spells it. */
export function bare(text: string): string {
  return parseJid(text).bare().toString();
}

/** One repository's trust, as its remotes attach with it (EndpointPlugin.own; see ownTrust). */
export class TrustAudience implements Audience {
  readonly key: string;
  readonly accounts: ReadonlySet<string>;

  /** `ours`: the login's own account, whose other daemons every repository hears and tells. */
  constructor(trust: readonly string[], private readonly ours: () => string) {
    this.accounts = new Set(trust.map(bare));
    this.key = JSON.stringify([...this.accounts].sort());
  }

  hears(sender: string): boolean {
    return this.tells(sender);
  }

  /** A daemon of the account `account` (a bare JID) may be told this repository's news. */
  tells(account: string): boolean {
    return account === this.ours() || this.accounts.has(account);
  }
}

/**
 * The trust list an attach carries, as the coordinator made it (ownTrust): checked all the same,
 * and never longer than one repository may have.
 */
export function trustFrom(own: Record<string, unknown>): string[] {
  const { trust } = own;
  if (!Array.isArray(trust)) return [];
  return trust.filter((t): t is string => typeof t === 'string' && BARE_JID.test(t)).slice(0, MAX_TRUST);
}

/** Every account some repository trusts: what the login hears. */
export function union(audiences: readonly TrustAudience[]): Set<string> {
  const all = new Set<string>();
  for (const audience of audiences) for (const account of audience.accounts) all.add(account);
  return all;
}
