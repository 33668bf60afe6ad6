// Change notices over XMPP, on a real Prosody (with mod_smacks, as public servers run it) and a
// real sshd: two devices of one account, a forge repository nobody notifies about and that is
// polled every 600 s. Measured: the daemon's XMPP login, and push on A -> fetched on B, which
// without the notice would take up to the poll interval, next to its floor: after each push has
// reached B, one listing plus one plain `git fetch` of the same change over an open ControlMaster.
//
//   node dist/bench/xmpp.js          (or through `npm run bench`)

import { performance } from 'node:perf_hooks';
import { eventually } from '../test/support/daemon.js';
import { refValue } from '../test/support/git.js';
import { loggedInAs, makeDevices } from '../test/xmpp/devices.js';
import { median, pairedRatio, report } from './report.js';
import { startControlMaster } from './ssh.js';

const SAMPLES = 15;
const fmt = (samples: number[]) => `${median(samples).toFixed(1)} ms (min ${Math.min(...samples).toFixed(1)}, max ${Math.max(...samples).toFixed(1)})`;

export async function benchXmpp(): Promise<void> {
  const cleanups: (() => unknown)[] = [];
  try {
    const dev = await makeDevices({ after: (fn) => cleanups.unshift(fn) }, { smacks: true });
    const started = performance.now();
    const a = dev.start(dev.a);
    const b = dev.start(dev.b);
    const [asA, asB] = await Promise.all([loggedInAs(a), loggedInAs(b)]);
    report('xmpp: daemon start -> logged in (SCRAM, TLS; both at once)', `${(performance.now() - started).toFixed(0)} ms`);
    await Promise.all([a.waitFor('CONNECTED origin', { timeoutMs: 20_000 }), b.waitFor('CONNECTED origin', { timeoutMs: 20_000 })]);
    await eventually(() => a.stderr.some((l) => l.includes(`${asB} listens`)) && b.stderr.some((l) => l.includes(`${asA} listens`)), 'each sees the other', 10_000);
    const master = await startControlMaster(dev.fx);
    cleanups.unshift(() => master.stop());
    const samples: number[] = [];
    const floor: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      // A quiet gap, the first change after a lull, and slower than the rate limit's refill (1 s):
      // a faster burst is served too, one deferred look per second, which is not what this measures.
      await new Promise((r) => setTimeout(r, 1000));
      const from = b.lines.length;
      const sha = dev.push(dev.a);
      const pushed = performance.now();
      await b.waitFor((l) => l === 'DONESYNCING origin 1' && refValue(dev.b, 'refs/remotes/origin/main') === sha, { from, timeoutMs: 20_000 });
      samples.push(performance.now() - pushed);
      floor.push(await master.listAndFetch());
    }
    report(`xmpp: push on A -> fetched on B via a notice, median of ${SAMPLES}`, `${fmt(samples)}; B polls every 600 s`);
    report('xmpp: floor: git ls-remote + plain git fetch over ControlMaster', fmt(floor));
    report('xmpp: ratio notice push-to-fetched / floor, median per push (target <= 1.30)', pairedRatio(samples, floor, 1.3));
  } catch (err) {
    report('xmpp: push on A -> fetched on B via a notice', `not measured: ${(err as Error).message.split('\n')[0]}`);
  } finally {
    for (const fn of cleanups) await fn();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchXmpp();
