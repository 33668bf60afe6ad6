// The XMPP notice carrier's endpoint task: one login per account in the process, shared by the
// repositories that use it (workers/xmpp/account.ts), feeding the carrier-neutral hub
// (workers/notice/hub.ts) that every remote is linked to. It only translates: hub decisions out as
// headline messages, trusted headlines in as notices, every (re)login into a catch-up, its state
// into status lines and conditions, and each repository's trust list (which comes with its remotes,
// never in the settings) into its remotes' audience and the login's union of them (trust.ts).

import type { EndpointStatus, EndpointTask } from '../../shared/plugin.js';
import { EndpointLoop } from '../endpointloop.js';
import { decodeNotice } from '../notice/format.js';
import { NoticeHub } from '../notice/hub.js';
import { XmppAccount, type AccountSettings } from './account.js';
import { passwordFromFile, passwordFromGit, reportToGit } from './credentials.js';
import type { XmppSettings } from './plugin.js';
import { bare, TrustAudience, trustFrom, union } from './trust.js';

/** What the thread runs with: never a trust list (each repository's own, it comes with its remotes). */
type LoginSettings = Omit<XmppSettings, 'trust'>;

export default async function xmppEndpoint(task: EndpointTask): Promise<string> {
  let settings = task.settings as unknown as LoginSettings;
  const hub: NoticeHub<TrustAudience> = new NoticeHub({
    log: (text) => loop.log(text),
    changed: () => report(),
    audience: (own) => new TrustAudience(trustFrom(own), () => bare(settings.jid)),
    // A remote came or went: the login hears exactly the accounts its repositories trust now.
    audiencesChanged: () => xmpp.trust(union(hub.audiences())),
  });
  const loop: EndpointLoop<undefined> = new EndpointLoop(task.port, {
    carrier: {
      // Started during LOSTNET (by RELOAD): off the network until RESUME, like a running one.
      start: () => {
        if (task.lostnet) xmpp.pause();
        else xmpp.start();
        report();
      },
      stop: () => xmpp.stop(),
    },
    link: () => undefined,
    notices: hub,
    settings(next) {
      settings = next as unknown as LoginSettings;
      xmpp.update(accountSettings(settings));
      report();
    },
    control(what) {
      if (what === 'pause' || what === 'lostnet') xmpp.pause();
      else xmpp.retryNow();
      report();
    },
  });
  const xmpp = login(task, () => settings, loop, hub, () => report());
  function report(): void {
    loop.say({ type: 'status', status: status(xmpp, hub, settings) });
  }
  await loop.run();
  return 'stopped';
}

/** The one login, feeding the hub: every (re)login a catch-up, every state change a status line. */
function login(task: EndpointTask, settings: () => LoginSettings, loop: EndpointLoop<undefined>, hub: NoticeHub<TrustAudience>, report: () => void): XmppAccount {
  const log = (text: string) => loop.log(text);
  const account = () => {
    const [local, domain] = settings().jid.split('@') as [string, string];
    return { local, domain };
  };
  let fromGit = false;
  const xmpp: XmppAccount = new XmppAccount(accountSettings(settings()), {
    async password() {
      const { passwordFile } = settings();
      fromGit = !passwordFile;
      return passwordFile ? passwordFromFile(passwordFile) : passwordFromGit(task.repo.cwd, account());
    },
    passwordResult(password, ok) {
      if (fromGit) void reportToGit(task.repo.cwd, account(), password, ok);
    },
    online(fullJid) {
      log(`logged in as ${fullJid}; every remote looks for what it missed`);
      // A remote with no audience (none comes without one) tells only our own account's daemons.
      const ours = (account: string) => account === bare(settings().jid);
      hub.setCarrier({ send: (encoded, _url, audience) => xmpp.send(encoded, (account) => audience?.tells(account) ?? ours(account)) });
      hub.catchUp('the XMPP link is (back) up');
      report();
    },
    offline(reason) {
      hub.setCarrier(undefined);
      log(`offline (${reason})`);
      report();
    },
    notice(sender, text) {
      const notice = decodeNotice(text);
      if (notice) hub.hear(sender, notice);
    },
    condition(kind, text) {
      // Every condition of the login: RESUME logs in again (retryNow), which says it again if it holds.
      loop.say({ type: 'condition', kind, text, retriedOnResume: true });
      report();
    },
    // A device arriving or leaving, a state change: status follows as it happens.
    changed: () => report(),
    log,
  });
  return xmpp;
}

function status(xmpp: XmppAccount, hub: NoticeHub<TrustAudience>, settings: LoginSettings): EndpointStatus {
  const f = hub.facts;
  const as = xmpp.fullJid ?? settings.jid;
  const problem = xmpp.problem;
  const summary =
    xmpp.state === 'online'
      ? `connected as ${as}, ${xmpp.peerCount} other device(s) listening`
      : xmpp.state === 'waiting'
        ? `not connected as ${as}: ${problem ? `${problem}; ` : ''}waiting for RESUME or RELOAD`
        : xmpp.state === 'backoff'
          ? `not connected as ${as}: ${problem ?? 'the connection ended'}; retrying with backoff`
          : `${xmpp.state} (${as})${problem ? `; last try: ${problem}` : ''}`;
  const events: { what: string; at: number }[] = [{ what: xmpp.state === 'online' ? 'connected' : 'state since', at: xmpp.since }];
  if (f.lastSent) events.push({ what: `last notice sent (${f.lastSent.url}, ${f.lastSent.refs} ref(s), to ${f.lastSent.devices} device(s))`, at: f.lastSent.at });
  if (f.lastHeard) events.push({ what: `last notice heard (${f.lastHeard.url} from ${f.lastHeard.from}, for ${f.lastHeard.remotes.join(', ')})`, at: f.lastHeard.at });
  return { summary: f.limited > 0 ? `${summary}; ${f.limited} notice(s) over the rate limit dropped` : summary, events };
}

function accountSettings(s: LoginSettings): AccountSettings {
  return { jid: s.jid, ...(s.service && { service: s.service }) };
}

