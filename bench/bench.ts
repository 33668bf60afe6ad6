// `npm run bench`: every performance figure the project claims, measured in one run.
import { benchHttp } from './http.js';
import { benchHub } from './hub.js';
import { benchLocal } from './local.js';
import { benchNotifier } from './notifier.js';
import { benchP2p } from './p2p.js';
import { benchP2pShown } from './p2pshown.js';
import { benchSsh } from './ssh.js';
import { benchXmpp } from './xmpp.js';
import { stageRecord } from './stages.js';
import { join } from 'node:path';
import { tempDir } from '../test/support/git.js';

console.log(`git-remote-daemon benchmarks (node ${process.version}); medians, measured side by side in this run\n`);
await benchLocal();
await benchNotifier();
const stagesDir = tempDir('grd-bench-stages-'); // the ssh section's marks, for the p2p section's table
const sshStages = stageRecord(join(stagesDir.path, 'ssh'));
const sshMs = await benchSsh(sshStages);
await benchHttp();
await benchXmpp();
await benchP2p(sshMs, sshStages);
stagesDir.cleanup();
await benchP2pShown();
await benchHub();
