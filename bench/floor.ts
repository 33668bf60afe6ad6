// The floor of one thread per remote, measured side by side with the daemon: a bare Node process
// (the same node binary) whose worker threads only wait. `add <n>` on stdin starts n more and
// answers `up <total>` once they all run; the bench reads the process's PSS and CPU from /proc.
// `--import <module>` makes each worker import that module first: what one import costs a worker;
// `--v8-flags <flags>` sets V8 flags before the first worker, as the daemon's pool does.
//
//   node dist/bench/floor.js [--v8-flags <flags>] [--import <file or package>]...

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';

/** A worker that waits for a message that never comes, the least a thread per remote can be. */
const BARE = "const { parentPort } = require('node:worker_threads'); parentPort.on('message', () => {}); parentPort.postMessage('up');";
/** The same, as an ES module that first imports what it is given (piscina loads tasks this way). */
const IMPORTING = `data:text/javascript,${encodeURIComponent(
  "import { parentPort, workerData } from 'node:worker_threads'; for (const m of workerData) await import(m); parentPort.on('message', () => {}); parentPort.postMessage('up');",
)}`;

export interface FloorProcess {
  pid: number;
  /** Starts `n` more waiting workers; resolves once they all run. */
  add(n: number): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the floor process: bare workers, or workers that import `imports` (absolute file URLs or packages). */
export async function startFloor(imports: string[] = [], v8Flags?: string): Promise<FloorProcess> {
  const args = [fileURLToPath(import.meta.url), ...(v8Flags ? ['--v8-flags', v8Flags] : []), ...imports.flatMap((m) => ['--import', m])];
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return {
    pid: child.pid!,
    async add(n) {
      child.stdin!.write(`add ${n}\n`);
      const { value, done } = await lines.next();
      if (done || !String(value).startsWith('up ')) throw new Error(`floor process: ${String(value)}`);
    },
    async stop() {
      child.stdin!.end();
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}

async function main(): Promise<void> {
  const imports: string[] = [];
  for (let i = 2; i < process.argv.length; i++) {
    if (process.argv[i] === '--import') imports.push(process.argv[++i]!);
    else if (process.argv[i] === '--v8-flags') setFlagsFromString(process.argv[++i]!);
  }
  const workers: Worker[] = [];
  for await (const line of createInterface({ input: process.stdin })) {
    const n = Number(/^add (\d+)$/.exec(line)?.[1] ?? 0);
    for (let i = 0; i < n; i++) {
      const worker = imports.length ? new Worker(new URL(IMPORTING), { workerData: imports }) : new Worker(BARE, { eval: true });
      await new Promise((resolve, reject) => worker.once('message', resolve).once('error', reject));
      workers.push(worker);
    }
    process.stdout.write(`up ${workers.length}\n`);
  }
  process.exit(0);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
