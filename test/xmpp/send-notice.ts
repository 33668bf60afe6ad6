// Run as its own process (it must trust the test CA through NODE_EXTRA_CA_CERTS, read at start):
// logs in as one account and sends headline notices to one full JID, then logs out cleanly, so
// that once it exits the server has taken every one of them.
//   node send-notice.js <service> <jid> <password> <to> <count> <payload> [subscribe]
// With `subscribe`, it asks <to> (a bare JID) for a presence subscription instead.
import { client, xml } from '@xmpp/client';
import { NOTICE_NS } from '../../workers/xmpp/account.js';

const [service, jid, password, to, count, payload, kind] = process.argv.slice(2) as [string, string, string, string, string, string, string?];
const [local, domain] = jid.split('@') as [string, string];
// @xmpp's own timeout for each step of the login is 2 s: under CI's load (TLS and SCRAM on two busy
// cores) this tool's login once took longer, and the test failed on the tool, not the daemon.
const x = client({ service, domain, timeout: 15_000, resource: `test-${process.pid}`, credentials: (auth, mechanisms) => auth({ username: local, password }, mechanisms[0]!) });
x.reconnect.stop();
let stopping = false;
x.on('error', (err: Error) => {
  // Everything was sent and the server has it; a socket that ends under the closing stream is
  // not a failed send (seen once under load: "write after end").
  if (stopping) return;
  // Some of @xmpp's errors (a timeout) carry no message: the name and condition say what it was.
  const { condition } = err as Error & { condition?: string };
  console.error(`send-notice: ${err.name}${condition ? ` (${condition})` : ''}: ${err.message || '(no message)'}`);
  process.exit(1);
});
await x.start();
if (kind === 'subscribe') await x.send(xml('presence', { to, type: 'subscribe' }));
for (let i = 0; i < Number(count); i++) await x.send(xml('message', { to, type: 'headline' }, xml('notice', { xmlns: NOTICE_NS }, payload)));
stopping = true;
await x.stop().catch(() => {});
