// A stand-in entry point for tests until src/cli.ts exists: `node notifier-main.js notifychanges [repo]`
// or `node notifier-main.js shell [basedir]`. It sets the exit code without process.exit(), so a
// test through it also proves that nothing is left holding the event loop open.
import { runNotifyChanges } from '../../src/server/notifychanges.js';

const [command, arg] = process.argv.slice(2);
if (command === 'notifychanges') {
  process.exitCode = await runNotifyChanges(arg);
} else {
  const { runShell } = await import('../../src/server/shell.js');
  process.exitCode = await runShell({ baseDir: arg });
}
