// The XMPP notice carrier's endpoint task: one login for the whole daemon (workers/xmpp/account.ts)
// feeding the carrier-neutral hub (workers/notice/hub.ts) that every remote is linked to. It only
// translates: hub decisions out as headline messages, trusted headlines in as notices, every
// (re)login into a catch-up, and its state into status lines and conditions.

import type { EndpointTask, FromEndpoint, ToEndpoint } from '../../shared/plugin.js';
import { decodeNotice } from '../notice/format.js';
import { NoticeHub } from '../notice/hub.js';
import { XmppAccount, type AccountSettings } from './account.js';
import { passwordFromFile, passwordFromGit, reportToGit } from './credentials.js';
import type { XmppSettings } from './plugin.js';

export default async function xmppEndpoint(task: EndpointTask): Promise<string> {
  let settings = task.settings as unknown as XmppSettings;
  const say = (message: FromEndpoint) => {
    try {
      task.port.postMessage(message);
    } catch {
      // the coordinator let go of us; a stop follows
    }
  };
  const log = (text: string) => say({ type: 'log', text });
  const hub = new NoticeHub({ log, changed: () => report() });
  const account = () => {
    const [local, domain] = settings.jid.split('@') as [string, string];
    return { local, domain };
  };
  let fromGit = false;
  const xmpp = new XmppAccount(accountSettings(settings), {
    async password() {
      fromGit = !settings.passwordFile;
      return settings.passwordFile ? passwordFromFile(settings.passwordFile) : passwordFromGit(task.repo.cwd, account());
    },
    passwordResult(password, ok) {
      if (fromGit) void reportToGit(task.repo.cwd, account(), password, ok);
    },
    online(fullJid) {
      log(`logged in as ${fullJid}; every remote looks for what it missed`);
      hub.setCarrier({ send: (encoded) => xmpp.send(encoded) });
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
      say({ type: 'condition', kind, text, retriedOnResume: true });
      report();
    },
    // A device arriving or leaving, a state change: status follows as it happens.
    changed: () => report(),
    log,
  });

  function report(): void {
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
    say({ type: 'status', status: { summary: f.limited > 0 ? `${summary}; ${f.limited} notice(s) over the rate limit dropped` : summary, events } });
  }

  // Started during LOSTNET (by RELOAD): off the network until RESUME, like a running one.
  if (task.lostnet) xmpp.pause();
  else xmpp.start();
  report();
  await new Promise<void>((resolve) => {
    task.port.on('message', (m: ToEndpoint) => {
      switch (m.type) {
        case 'attach':
          return hub.attach(m.remote, m.url, m.port);
        case 'detach':
          return hub.detach(m.remote);
        case 'settings':
          settings = m.settings as unknown as XmppSettings;
          xmpp.update(accountSettings(settings));
          return report();
        case 'control':
          if (m.what === 'pause' || m.what === 'lostnet') xmpp.pause();
          else xmpp.retryNow();
          return report();
        case 'stop':
          hub.stop();
          void xmpp.stop().finally(() => {
            task.port.close();
            resolve();
          });
      }
    });
  });
  return 'stopped';
}

function accountSettings(s: XmppSettings): AccountSettings {
  return { jid: s.jid, trust: s.trust, ...(s.service && { service: s.service }) };
}

