// The unit run's guard (`npm run test:unit`, the files listed in test/unit.txt): loaded with
// `node --import` into each process of the unit run, it makes starting a real server fail at once with a clear
// message, so a file that needs one cannot slip into the fast run unnoticed. Real servers here are
// sshd, `git daemon`, a git http server, Prosody and a hyperdht network (UDP).
//
// It patches node:child_process and node:dgram in this process only (a shard of the unit files), and
// syncBuiltinESMExports makes `import { spawn } from 'node:child_process'` see the patched one.

import childProcess from 'node:child_process';
import dgram from 'node:dgram';
import { syncBuiltinESMExports } from 'node:module';
import { promisify } from 'node:util';
import { serverIn, UnitRunError } from './unitrun.js';

process.env.GRD_TEST_UNIT = '1';

type Spawner = (...args: never[]) => unknown;

function guard<F extends Spawner>(name: string, real: F): F {
  const wrap = (fn: (...a: unknown[]) => unknown) =>
    function (this: unknown, ...args: unknown[]) {
      const [file, rest] = args;
      const server = typeof file === 'string' ? serverIn(file, Array.isArray(rest) ? (rest as string[]) : []) : undefined;
      if (server) throw new UnitRunError(`child_process.${name}(${JSON.stringify(file)}) would start ${server}`);
      return fn.apply(this, args);
    };
  const guarded = wrap(real as unknown as (...a: unknown[]) => unknown) as unknown as F & { [promisify.custom]?: unknown };
  // execFile's promisified form resolves { stdout, stderr }: keep it, guarded too.
  const custom = (real as unknown as { [promisify.custom]?: (...a: unknown[]) => unknown })[promisify.custom];
  if (custom) guarded[promisify.custom] = wrap(custom);
  return guarded;
}

if (process.env.GRD_TEST_UNIT_GUARD !== 'off') {
  for (const name of ['spawn', 'spawnSync', 'execFile', 'execFileSync'] as const) {
    (childProcess as unknown as Record<string, Spawner>)[name] = guard(name, childProcess[name] as unknown as Spawner);
  }
  // hyperdht (a DHT testnet, a peer's node) talks UDP: no unit test needs a UDP socket.
  dgram.createSocket = (() => {
    throw new UnitRunError('dgram.createSocket would start a UDP socket (a hyperdht network)');
  }) as typeof dgram.createSocket;
  syncBuiltinESMExports();
}
