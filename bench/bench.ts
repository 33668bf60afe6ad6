// `npm run bench`: every performance figure the project claims, measured in one run.
import { benchHttp } from './http.js';
import { benchHub } from './hub.js';
import { benchLocal } from './local.js';
import { benchNotifier } from './notifier.js';
import { benchP2p } from './p2p.js';
import { benchP2pShown } from './p2pshown.js';
import { benchSsh } from './ssh.js';
import { benchXmpp } from './xmpp.js';

console.log(`git-remote-daemon benchmarks (node ${process.version}); medians, measured side by side in this run\n`);
await benchLocal();
await benchNotifier();
const sshMs = await benchSsh();
await benchHttp();
await benchXmpp();
await benchP2p(sshMs);
await benchP2pShown();
await benchHub();
