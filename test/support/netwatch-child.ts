// Run inside `unshare -n` by test/netwatch.test.ts: watch, add an address, report what was seen.
import { execFileSync } from 'node:child_process';
import { watchNetwork } from '../../src/netwatch.js';

const timer = setTimeout(() => {
  console.log('nothing noticed');
  process.exit(1);
}, 10_000);
const watch = watchNetwork({
  changed: (why) => {
    console.log(`changed: ${why}`);
    clearTimeout(timer);
    watch.stop();
  },
  log: (text) => console.log(`log: ${text}`),
  settleMs: 50,
});
await watch.ready;
execFileSync('ip', ['link', 'set', 'lo', 'up']);
execFileSync('ip', ['addr', 'add', '192.0.2.1/32', 'dev', 'lo']);
