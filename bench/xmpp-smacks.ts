// Why workers/xmpp/account.ts waits for stream management before sending presence: two clients of
// one account on a Prosody with mod_smacks, presence sent at once on 'online' ("at once") or only
// after the server answered <enable/> ("settled"), then 20 headlines from one to the other.
// Counts messages delivered and runs in which the server dropped a client.
//
//   node dist/bench/xmpp-smacks.js [runs]      (about 2 s per run and mode)

import { spawnSync } from 'node:child_process';
import { client, xml, type Client, type Element } from '@xmpp/client';
import { startProsody } from '../test/xmpp/prosody.js';
import { report } from './report.js';

const SM_NS = 'urn:xmpp:sm:3';
const runs = Number(process.argv[2] ?? 20);

if (!process.env.GRD_BENCH_SERVICE) {
  // The client must trust the test CA, which Node reads from NODE_EXTRA_CA_CERTS at start only.
  for (const smacks of [true, false]) {
    const server = await startProsody({ smacks });
    try {
      await server.register('alice', 'pw');
      const modes = smacks ? ['at once', 'settled'] : ['at once'];
      for (const mode of modes) {
        const out = spawnSync(process.execPath, [process.argv[1]!, String(runs)], {
          env: { ...process.env, GRD_BENCH_SERVICE: server.service, GRD_BENCH_MODE: mode, NODE_EXTRA_CA_CERTS: server.caFile },
          encoding: 'utf8',
        });
        report(`xmpp: presence ${mode}, mod_smacks ${smacks ? 'on' : 'off'}, ${runs} runs x 20 headlines`, out.stdout.trim() || out.stderr.trim().split('\n')[0]!);
      }
    } finally {
      await server.dispose();
    }
  }
} else {
  const service = process.env.GRD_BENCH_SERVICE;
  const settle = process.env.GRD_BENCH_MODE === 'settled';
  const make = (resource: string): Client => {
    const x = client({ service, domain: 'localhost', resource, credentials: (auth, mechanisms) => auth({ username: 'alice', password: 'pw' }, mechanisms[0]!) });
    x.reconnect.stop();
    x.on('error', () => {});
    return x;
  };
  const online = async (x: Client) => {
    const answered = new Promise<void>((resolve) => x.on('nonza', (el: Element) => (el.is('enabled', SM_NS) || el.is('failed', SM_NS)) && resolve()));
    await x.start();
    if (settle) await answered;
    await x.send(xml('presence', {}, xml('priority', {}, '-1')));
  };
  let delivered = 0;
  let dropped = 0;
  for (let r = 0; r < runs; r++) {
    const a = make(`a${r}`);
    const b = make(`b${r}`);
    let got = 0;
    let lost = false;
    b.on('stanza', (el: Element) => el.is('message') && got++);
    for (const x of [a, b]) x.on('disconnect', () => (lost = true));
    await Promise.all([online(a), online(b)]);
    for (let i = 0; i < 20; i++) await a.send(xml('message', { to: b.jid!.toString(), type: 'headline' }, xml('body', {}, `n${i}`)));
    // Delivery takes milliseconds; a drop for a bad acknowledgement comes within the 250 ms <r/> debounce.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    delivered += got;
    if (lost) dropped++;
    await Promise.allSettled([a.stop(), b.stop()]);
  }
  console.log(`${delivered}/${runs * 20} delivered, a client dropped in ${dropped}/${runs} runs`);
}
