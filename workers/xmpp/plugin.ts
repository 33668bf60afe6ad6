// The XMPP notice carrier: not a transport (no git data goes over XMPP) but a shared endpoint that
// every remote is linked to, whatever its transport, when `remotedaemon.xmpp.jid` is set.
// Cheap to import: the client is loaded only in the endpoint's own thread.

import { last, type GitConfig } from '../../shared/gitconfig.js';
import type { NoticeCarrierPlugin } from '../../shared/plugin.js';

export interface XmppSettings {
  jid: string;
  service?: string;
  trust: string[];
  passwordFile?: string;
}

/** A bare JID as the config may name it: `local@domain`, nothing the client would reinterpret. */
export const BARE_JID = /^[^@/\s"&'<>:]+@[a-z0-9.-]+$/i;

/**
 * Accounts one repository may trust; the rest are said and ignored. With MAX_TRUST_LISTS, what
 * bounds the accounts one login hears and asks for a presence subscription (their union).
 */
export const MAX_TRUST = 64;
/** Different trust lists among the repositories sharing one login; a repository beyond gets no part. */
export const MAX_TRUST_LISTS = 16;

/** A repository's trust list as its remotes' attach carries it: one spelling for equal lists. */
export function ownTrust(settings: Record<string, unknown>): { trust: string[] } {
  return { trust: [...new Set((settings as unknown as XmppSettings).trust)].sort() };
}

export const xmppCarrier: NoticeCarrierPlugin = {
  name: 'xmpp',
  endpoint: {
    notices: true,
    file: new URL('./endpoint.js', import.meta.url),
    settings(config: GitConfig) {
      const jid = last(config, 'remotedaemon.xmpp.jid');
      if (!jid) return undefined;
      const problems: string[] = [];
      if (!BARE_JID.test(jid)) return { problems: [`remotedaemon.xmpp.jid ${JSON.stringify(jid)} is not an account address (user@domain); no XMPP notices`] };
      const trust: string[] = [];
      for (const t of config.get('remotedaemon.xmpp.trust') ?? []) {
        if (!BARE_JID.test(t)) problems.push(`remotedaemon.xmpp.trust ${JSON.stringify(t)} is not an account address (user@domain); ignored`);
        else if (trust.length < MAX_TRUST) trust.push(t.toLowerCase());
        else problems.push(`remotedaemon.xmpp.trust ${JSON.stringify(t)} is past the ${MAX_TRUST} accounts one repository may trust; ignored`);
      }
      const service = last(config, 'remotedaemon.xmpp.service');
      if (service && !/^xmpp:\/\/[^/\s]+$/.test(service)) {
        return { problems: [...problems, `remotedaemon.xmpp.service ${JSON.stringify(service)} is not xmpp://host[:port] (STARTTLS, verified for the account's domain); no XMPP notices`] };
      }
      const passwordFile = last(config, 'remotedaemon.xmpp.passwordfile');
      const settings: XmppSettings = { jid: jid.toLowerCase(), trust, ...(service && { service }), ...(passwordFile && { passwordFile }) };
      return { settings: { ...settings }, problems };
    },
    // One login per account in a process: repositories of the shared daemon that use the same
    // account share it if they reach the same server and read the password the same way, whatever
    // they trust. Each repository's trust list is its own: the login hears every account some
    // repository trusts, but a notice nudges only remotes whose repository trusts its sender, and
    // a repository's notices go only to the accounts it trusts (besides our own).
    own: { keys: ['trust'], read: ownTrust, max: MAX_TRUST_LISTS, describe: 'trust lists' },
    identity: (settings) => {
      const jid = (settings as unknown as XmppSettings).jid;
      return { key: jid, shared: true, describe: `the XMPP account ${jid}` };
    },
  },
};
