// Every process a worker starts is spawned here, in its own process group, so that the worker can
// end it and all its descendants (git fetch runs upload-pack, ssh helpers...) with one signal, and
// so the coordinator can do the same if the worker's thread dies before it could.

import { spawn as spawnProcess, type ChildProcess, type SpawnOptions } from 'node:child_process';
import spawn, { type Subprocess, type Options } from 'nano-spawn';
import { killGroups } from '../shared/kit/group.js';
import { unwatchGroup, watchGroup } from '../shared/kit/groupwatch.js';

type ChildListener = (pid: number, alive: boolean) => void;

const running = new Set<number>();
let listener: ChildListener = () => {};
/** Which session a child belongs to: one an earlier session left ends unheard by the next. */
let session = 0;

/**
 * Starts a session's accounting in this thread. Piscina reuses threads, so whatever an earlier
 * session left (it should have left nothing) is ended and forgotten, and from now on every child
 * is reported to this session's listener only.
 */
export function beginChildren(fn: ChildListener): void {
  killAll('SIGKILL');
  running.clear();
  session++;
  listener = fn;
}

/** The session is over: nothing more is reported to it. */
export function endChildren(): void {
  listener = () => {};
}

/** A command that runs to completion: its output is collected (nano-spawn). */
export function run(file: string, args: readonly string[], options: Options = {}): Subprocess {
  const subprocess = spawn(file, args, { ...options, detached: true });
  void subprocess.nodeChildProcess.then(track, () => {});
  return subprocess;
}

/**
 * A process that lives as long as the worker (cat-file): streamed, never collected, since
 * nano-spawn would keep every byte it ever printed.
 */
export function runLongLived(file: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  const child = spawnProcess(file, args, { ...options, detached: true, stdio: ['pipe', 'pipe', 'ignore'] });
  child.on('error', () => {}); // reported through 'exit'/'close'
  track(child);
  return child;
}

/**
 * A command whose output is read as it comes (git fetch, git ls-remote): stdin closed unless asked
 * for (a pack written as it arrives), stderr (and stdout if asked) piped for the caller to read in
 * chunks, and fd 3 a pipe in when asked (a direct fetch's plan); nothing is collected here.
 */
export function runStreamed(file: string, args: readonly string[], options: SpawnOptions & { stdout?: boolean; stdin?: boolean; fd3?: boolean } = {}): ChildProcess {
  const { stdout, stdin, fd3, ...spawnOptions } = options;
  const stdio = [stdin ? 'pipe' : 'ignore', stdout ? 'pipe' : 'ignore', 'pipe', ...(fd3 ? ['pipe'] : [])] as ('pipe' | 'ignore')[];
  const child = spawnProcess(file, args, { ...spawnOptions, detached: true, stdio });
  child.on('error', () => {}); // the caller hears of it through 'close'
  track(child);
  return child;
}

function track(child: ChildProcess): void {
  const pid = child.pid;
  if (pid === undefined) return;
  running.add(pid);
  // Listed with the watcher now, not when the main thread hears: a kill -9 of the daemon meanwhile
  // must not leave this group running (shared/kit/groupwatch.ts).
  watchGroup(pid);
  listener(pid, true);
  const startedIn = session;
  child.once('exit', () => {
    unwatchGroup(pid);
    if (startedIn !== session) return; // forgotten by beginChildren: the new session never saw it
    running.delete(pid);
    listener(pid, false);
  });
}

export function killAll(signal: NodeJS.Signals = 'SIGTERM'): void {
  killGroups(running, signal);
}

export function runningCount(): number {
  return running.size;
}
