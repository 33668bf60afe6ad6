// The process groups of our children, ended when we die, however we die (`kill -9` included).
// Every command a worker runs (git fetch, ls-remote, cat-file...) and every after-fetch command
// runs in a process group of its own, and on a clean stop or a worker's crash we end those groups
// ourselves. A `kill -9` of the daemon leaves nobody to do it: git fetch, its remote helper
// (git-remote-p2p), its upload-pack or a slow hook would run on under init.
//
// So a small watcher process holds the list: `+<group>` when a group starts and `-<group>` when its
// leader has exited, written to a FIFO the watcher reads. The daemon holds the FIFO open itself;
// when its process ends, whatever the cause, the kernel closes that, the watcher reads end-of-file
// and sends SIGTERM to every group still listed (git removes its lock files on it), then SIGKILL to
// what is left.
//
// Why a FIFO and not the watcher's stdin: a worker thread lists its child's group itself, in the
// turn that spawned it, by opening the FIFO by name and writing one line (atomic: < PIPE_BUF; the
// main thread's longer writes are cut at whole lines to stay atomic too).
// Listed through the main thread, a group waited for a message to cross threads and for the main
// thread's turn, and a `kill -9` in that window left it running (an `ls-remote` with its
// `git-remote-p2p`, seen in test/p2p/orphans.test.ts). The main thread still hears of every child
// (`+` again, which the watcher ignores, then `-` in order) and keeps the list it tells a watcher
// started again after someone ended the first.
//
// Why not PR_SET_PDEATHSIG (shared/kit/tied.ts) on each child: it reaches only the child, not git's
// own children, and it fires when the *thread* that spawned the child ends: for a worker's
// children, the worker's thread, not the daemon (measured: a `setpriv --pdeathsig` child of a
// worker thread is killed by `worker.terminate()`). Only the process's end closes the daemon's hold
// on the FIFO. The watcher is plain sh (no second Node process: ~40 MB) in a session of its own, so
// a Ctrl-C meant for a foreground daemon cannot end it before it has done its job.
//
// `startGroupWatch` is called by the daemon on the main thread, and worker threads learn the FIFO's
// name through `groupWatchChannel()` (the pool's workerData). Where it was not called (tests that
// drive parts alone) `watchGroup`/`unwatchGroup` do nothing.

import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMainThread, workerData } from 'node:worker_threads';

/** How long after SIGTERM what is left of the groups gets SIGKILL, checked every 0.1 s. */
const GRACE_TENTHS = 20;

// $1: the FIFO's directory, removed once read to its end (after a kill -9 nobody else would).
const SCRIPT = `
groups=' '
while IFS= read -r line; do
  id=\${line#?}
  case $id in ''|*[!0-9]*) continue ;; esac
  case $line in
    +*) case $groups in *" $id "*) ;; *) groups="$groups$id " ;; esac ;;
    -*) case $groups in *" $id "*) groups="\${groups%%" $id "*} \${groups#*" $id "}" ;; esac ;;
  esac
done
rm -f "$1/groups" && rmdir "$1"
# dash's kill takes no "--": "-<id>" after the signal is a group.
alive() {
  for id in $groups; do kill -0 "-$id" 2>/dev/null && return 0; done
  return 1
}
alive || exit 0
for id in $groups; do kill -TERM "-$id" 2>/dev/null; done
n=0
while [ $n -lt ${GRACE_TENTHS} ] && alive; do sleep 0.1; n=$((n + 1)); done
for id in $groups; do kill -KILL "-$id" 2>/dev/null; done
exit 0
`;

/**
 * The FIFO's path, shared with worker threads: byte length in slot 0 (0: no watch), then UTF-8.
 * Main thread: made here; a worker: the one its pool was given, if any.
 */
const PATH_BYTES = 4096;
const channel: SharedArrayBuffer | undefined = isMainThread
  ? new SharedArrayBuffer(4 + PATH_BYTES)
  : (workerData as { groupWatch?: unknown } | null)?.groupWatch instanceof SharedArrayBuffer
    ? ((workerData as { groupWatch: SharedArrayBuffer }).groupWatch)
    : undefined;

/** Handed to worker threads (the pool's workerData), so that they list their children themselves. */
export function groupWatchChannel(): SharedArrayBuffer {
  return channel!;
}

function publish(path: string | undefined): void {
  const length = new Int32Array(channel!, 0, 1);
  if (path === undefined) return void Atomics.store(length, 0, 0);
  const bytes = Buffer.from(path, 'utf8');
  if (bytes.length > PATH_BYTES) return; // a TMPDIR that long: workers list through the main thread only
  new Uint8Array(channel!, 4).set(bytes);
  Atomics.store(length, 0, bytes.length);
}

function published(): string | undefined {
  if (!channel) return undefined;
  const length = Atomics.load(new Int32Array(channel, 0, 1), 0);
  return length > 0 ? Buffer.from(new Uint8Array(channel, 4, length)).toString('utf8') : undefined;
}

let watcher: ChildProcess | undefined;
/** The FIFO's directory (private, 0700) and our hold on it: read-write, so opening never blocks. */
let fifo: { dir: string; path: string; fd: number } | undefined;
/** Daemons in this process that asked for the watch (one, but tests run several). */
let users = 0;
/** Listed now: sent again to a watcher started after one that died. */
const listed = new Set<number>();

function makeFifo(): NonNullable<typeof fifo> {
  const dir = mkdtempSync(join(tmpdir(), 'git-remote-daemon-groups-'));
  const path = join(dir, 'groups');
  // Node has no mkfifo(2); coreutils' takes the path as one argument, no shell involved.
  execFileSync('mkfifo', ['-m', '0600', '--', path], { stdio: ['ignore', 'ignore', 'pipe'] });
  return { dir, path, fd: openSync(path, constants.O_RDWR | constants.O_NONBLOCK) };
}

function spawnWatcher(): void {
  const { dir, path } = fifo!;
  // Its stdin is opened here, blocking (sh's read would fail on a non-blocking one), before the
  // watcher runs: a kill -9 right after start already finds it reading. Our read-write hold means
  // this open returns at once.
  const input = openSync(path, constants.O_RDONLY);
  let child: ChildProcess;
  try {
    child = spawn('/bin/sh', ['-c', SCRIPT, 'git-remote-daemon-groupwatch', dir], { detached: true, stdio: [input, 'ignore', 'ignore'] });
  } finally {
    closeSync(input);
  }
  child.on('error', () => {}); // no sh: nothing more we can do; seen through 'exit'
  // Its life must not keep ours going: a clean stop ends our hold on the FIFO, and the watcher with it.
  child.unref();
  child.once('exit', () => {
    if (watcher === child) watcher = undefined;
  });
  watcher = child;
  // The whole list, which says all that the lines not written yet to the watcher before it would.
  backlog = [];
  send([...listed].map((id) => `+${id}\n`));
}

/** A write to a pipe of at most this many bytes is atomic: all of it, together, or nothing. */
const PIPE_BUF = 4096;

/** `lines` as writes of whole lines, each at most PIPE_BUF bytes (so no other writer's line lands inside one). */
export function atomicWrites(lines: readonly string[]): string[] {
  const writes: string[] = [];
  let current = '';
  for (const line of lines) {
    if (current && Buffer.byteLength(current) + Buffer.byteLength(line) > PIPE_BUF) {
      writes.push(current);
      current = '';
    }
    current += line;
  }
  if (current) writes.push(current);
  return writes;
}

/**
 * The main thread's writes the watcher has not taken yet: the FIFO holds 64 KiB, and the list told
 * to a new watcher can be longer. Sent in order as the watcher reads, ahead of anything said later.
 */
let backlog: string[] = [];
let retry: NodeJS.Timeout | undefined;
const RETRY_MS = 10;

function send(lines: readonly string[]): void {
  backlog.push(...atomicWrites(lines));
  flush();
}

function flush(): void {
  clearTimeout(retry);
  retry = undefined;
  while (fifo && backlog.length > 0) {
    try {
      writeSync(fifo.fd, backlog[0]!);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
        // Full: the watcher is reading what is there (or wedged, and a new one gets the whole list).
        retry = setTimeout(flush, RETRY_MS);
        retry.unref(); // our end ends the watch, whatever is still to say
      } else {
        backlog = [];
      }
      return;
    }
    backlog.shift();
  }
}

/** A worker's one line; a full FIFO drops it (the main thread lists the group again when it hears of it). */
function write(fd: number, text: string): void {
  try {
    writeSync(fd, text);
  } catch {
    // EAGAIN: the watcher is wedged; nothing we could wait for would help
  }
}

function say(line: string): void {
  if (!fifo) return;
  if (!watcher || watcher.exitCode !== null || watcher.signalCode !== null) spawnWatcher(); // someone ended it
  send([line]);
}

/** From now on, listed groups are ended when this process ends. Called by the daemon as it starts. */
export function startGroupWatch(): void {
  users++;
  if (fifo) return;
  fifo = makeFifo();
  spawnWatcher();
  publish(fifo.path);
}

/** A clean stop: the groups have been ended already; the watcher exits at once. */
export function stopGroupWatch(): void {
  if (users > 0) users--;
  if (users > 0 || !fifo) return;
  publish(undefined);
  listed.clear();
  backlog = [];
  clearTimeout(retry);
  closeSync(fifo.fd);
  rmSync(fifo.dir, { recursive: true, force: true });
  fifo = undefined;
  watcher = undefined;
}

/**
 * `pid` leads a process group of ours: end it if we die. From a worker thread, in the turn that
 * spawned it: written to the FIFO at once (the main thread lists it again when it hears of it).
 */
export function watchGroup(pid: number): void {
  if (!Number.isSafeInteger(pid) || pid <= 1) return;
  if (!isMainThread) return sayFromWorker(`+${pid}\n`);
  if (!fifo) return;
  listed.add(pid);
  say(`+${pid}\n`);
}

/**
 * The group's leader has exited: forget it (its id may be reused). A worker says so at once too;
 * if the main thread hears of the child later, its own `+` and `-` come in that order after it.
 */
export function unwatchGroup(pid: number): void {
  if (!isMainThread) return sayFromWorker(`-${pid}\n`);
  if (!fifo || !listed.delete(pid)) return;
  say(`-${pid}\n`);
}

function sayFromWorker(line: string): void {
  const path = published();
  if (!path) return;
  let fd: number | undefined;
  try {
    // No reader (the watcher ended, not yet started again): ENXIO, and the main thread's copy of
    // the list is what the next watcher gets.
    fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
    write(fd, line);
  } catch {
    // gone: the watch stopped meanwhile
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** For tests: the main thread's writes not taken by the watcher yet. */
export function groupWatchBacklog(): number {
  return backlog.length;
}

/** For tests: the watcher's pid, if it runs. */
export function groupWatcherPid(): number | undefined {
  return watcher?.pid;
}
