// `git daemon` serving a directory over git:// on loopback, for tests.

import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { freePort } from './ports.js';
import { refuseInUnitRun } from './unitrun.js';

export interface GitDaemon {
  readonly port: number;
  /** `git://127.0.0.1:PORT` */
  readonly base: string;
  stop(): Promise<void>;
}

export async function startGitDaemon(basePath: string): Promise<GitDaemon> {
  refuseInUnitRun('startGitDaemon');
  const port = await freePort();
  const child: ChildProcess = spawn(
    'git',
    ['daemon', '--listen=127.0.0.1', `--port=${port}`, '--export-all', `--base-path=${basePath}`, '--reuseaddr', '--informative-errors', basePath],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1' } },
  );
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Ready when it accepts a connection.
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`git daemon exited: ${stderr}`);
    if (await canConnect(port)) break;
    if (Date.now() > deadline) throw new Error(`git daemon did not listen on ${port}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    port,
    base: `git://127.0.0.1:${port}`,
    stop: async () => {
      if (child.exitCode === null) child.kill();
      await exited;
    },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
