// The process groups of our children, ended when we die, however we die (`kill -9` included).
// Every command a worker runs (git fetch, ls-remote, cat-file...) and every after-fetch command
// runs in a process group of its own, and on a clean stop or a worker's crash we end those groups
// ourselves. A `kill -9` of the daemon leaves nobody to do it: git fetch, its remote helper
// (git-remote-p2p), its upload-pack or a slow hook would run on under init.
//
// So a small watcher process holds the list: the daemon writes `+<group>` when a group starts and
// `-<group>` when its leader has exited, on the watcher's stdin. When that pipe closes, which the
// kernel does when the daemon's process ends, whatever the cause, the watcher sends SIGTERM to
// every group still listed (git removes its lock files on it), then SIGKILL to what is left.
//
// Why not PR_SET_PDEATHSIG (shared/kit/tied.ts) on each child: it reaches only the child, not git's
// own children, and it fires when the *thread* that spawned the child ends: for a worker's
// children, the worker's thread, not the daemon (measured: a `setpriv --pdeathsig` child of a
// worker thread is killed by `worker.terminate()`). The watcher is fed from the main thread, so
// only the process's end counts. It is plain sh (no second Node process: ~40 MB) in a session of
// its own, so a Ctrl-C meant for a foreground daemon cannot end it before it has done its job.
//
// Main thread only: `startGroupWatch` is called by the daemon; where it was not (worker threads,
// tests that drive parts alone) `watchGroup`/`unwatchGroup` do nothing.

import { spawn, type ChildProcess } from 'node:child_process';

/** How long after SIGTERM what is left of the groups gets SIGKILL, checked every 0.1 s. */
const GRACE_TENTHS = 20;

const SCRIPT = `
groups=' '
while IFS= read -r line; do
  id=\${line#?}
  case $id in ''|*[!0-9]*) continue ;; esac
  case $line in
    +*) groups="$groups$id " ;;
    -*) case $groups in *" $id "*) groups="\${groups%%" $id "*} \${groups#*" $id "}" ;; esac ;;
  esac
done
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

let watcher: ChildProcess | undefined;
/** Daemons in this process that asked for the watch (one, but tests run several). */
let users = 0;
let started = false;
/** Listed now: sent again to a watcher started after one that died. */
const listed = new Set<number>();

function spawnWatcher(): void {
  const child = spawn('/bin/sh', ['-c', SCRIPT, 'git-remote-daemon-groupwatch'], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
  child.on('error', () => {}); // no sh: nothing more we can do; seen through 'exit'
  child.stdin!.on('error', () => {});
  // Its life must not keep ours going: a clean stop ends the pipe, and the watcher with it.
  child.unref();
  (child.stdin as unknown as { unref?(): void }).unref?.();
  child.once('exit', () => {
    if (watcher === child) watcher = undefined;
  });
  watcher = child;
  if (listed.size > 0) child.stdin!.write([...listed].map((id) => `+${id}\n`).join(''));
}

function say(line: string): void {
  if (!started) return;
  if (!watcher || watcher.exitCode !== null || watcher.signalCode !== null) spawnWatcher(); // someone ended it
  watcher!.stdin!.write(line);
}

/** From now on, listed groups are ended when this process ends. Called by the daemon as it starts. */
export function startGroupWatch(): void {
  users++;
  if (started) return;
  started = true;
  spawnWatcher();
}

/** A clean stop: the groups have been ended already; the watcher exits at once. */
export function stopGroupWatch(): void {
  if (users > 0) users--;
  if (users > 0 || !started) return;
  started = false;
  listed.clear();
  watcher?.stdin?.end();
  watcher = undefined;
}

/** `pid` leads a process group of ours: end it if we die. */
export function watchGroup(pid: number): void {
  if (!started || !Number.isSafeInteger(pid) || pid <= 1) return;
  listed.add(pid);
  say(`+${pid}\n`);
}

/** The group's leader has exited: forget it (its id may be reused). */
export function unwatchGroup(pid: number): void {
  if (!started || !listed.delete(pid)) return;
  say(`-${pid}\n`);
}

/** For tests: the watcher's pid, if it runs. */
export function groupWatcherPid(): number | undefined {
  return watcher?.pid;
}
