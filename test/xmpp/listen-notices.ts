// Run as its own process (it must trust the test CA through NODE_EXTRA_CA_CERTS, read at start):
// a daemon of another account, as far as ours can tell. It logs in, grants <owner> (a bare JID)
// the presence subscription it asks for and asks for one back, announces itself with the notice
// marker as a daemon does, then prints `READY`, and `NOTICE <payload>` for every notice it
// receives, until it is killed.
//   node listen-notices.js <service> <jid> <password> <owner>
import { client, xml, type Element } from '@xmpp/client';
import { NOTICE_NS } from '../../workers/xmpp/account.js';

const [service, jid, password, owner] = process.argv.slice(2) as [string, string, string, string];
const [local, domain] = jid.split('@') as [string, string];
// As send-notice.ts: @xmpp's 2 s per login step is too short on two busy cores.
const x = client({ service, domain, timeout: 15_000, resource: `listener-${process.pid}`, credentials: (auth, mechanisms) => auth({ username: local, password }, mechanisms[0]!) });
x.reconnect.stop();
x.on('error', (err: Error) => {
  const { condition } = err as Error & { condition?: string };
  console.error(`listen-notices: ${err.name}${condition ? ` (${condition})` : ''}: ${err.message || '(no message)'}`);
  process.exit(1);
});
const grant = () => x.send(xml('presence', { to: owner, type: 'subscribed' })).catch(() => {});
const announce = () => xml('presence', {}, xml('priority', {}, '-1'), xml('notices', { xmlns: NOTICE_NS }));
x.on('stanza', (el: Element) => {
  const from = String(el.attrs.from ?? '');
  if (el.is('presence') && el.attrs.type === 'subscribe' && from === owner) void grant();
  const notice = el.is('message') ? el.getChild('notice', NOTICE_NS) : undefined;
  if (notice) console.log(`NOTICE ${notice.text()}`);
});
await x.start();
await x.send(announce());
await x.send(xml('presence', { to: owner, type: 'subscribe' }));
console.log('READY');

