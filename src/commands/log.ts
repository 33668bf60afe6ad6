// `git remote-daemon log [-f] [-n N]`: print the daemon's log (the rotated-out part first), or its
// last N lines, and with -f keep printing what is added, across rotations, until interrupted.

import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { daemonPaths } from '../background/paths.js';
import { readState } from '../background/state.js';

export async function logCommand(cwd: string, options: { follow?: boolean; lines?: number }, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const paths = await daemonPaths(cwd);
  const state = readState(paths.state);
  if (state?.logTo === 'stderr') process.stderr.write('git-remote-daemon: this daemon runs in service mode and logs to stderr (journalctl --user -u ...)\n');
  if (!existsSync(paths.log) && !existsSync(paths.oldLog) && !options.follow) {
    process.stderr.write(`git-remote-daemon: no log yet (${paths.log})\n`);
    return 1;
  }
  let follower = openIfExists(paths.log);
  let offset: number;
  if (options.lines !== undefined) {
    offset = follower === undefined ? 0 : fstatSync(follower).size;
    out.write(lastLines(paths.oldLog, paths.log, follower, offset, options.lines));
  } else {
    if (existsSync(paths.oldLog)) copyFrom(paths.oldLog, 0, out);
    offset = follower === undefined ? 0 : copyFrom(follower, 0, out);
  }
  if (!options.follow) {
    if (follower !== undefined) closeSync(follower);
    return 0;
  }
  // Poll: cheap for one file, and it sees rotation (the name points at a new file) without inotify quirks.
  for (;;) {
    await new Promise((r) => setTimeout(r, 100));
    if (follower !== undefined) offset += copyFrom(follower, offset, out);
    const now = statIno(paths.log);
    if (now !== undefined && (follower === undefined || now !== fstatSync(follower).ino)) {
      // Rotated (or created): finish the old file (the daemon wrote its last lines there before
      // renaming it), then start the new one.
      if (follower !== undefined) {
        copyFrom(follower, offset, out);
        closeSync(follower);
      }
      follower = openIfExists(paths.log);
      offset = 0;
      if (follower !== undefined) offset = copyFrom(follower, 0, out);
    }
  }
}

/** The last `count` lines of the old log and the current one up to `size` (both 1 MiB at most). */
function lastLines(oldLog: string, log: string, fd: number | undefined, size: number, count: number): string {
  if (count === 0) return '';
  let text = '';
  if (fd !== undefined) {
    const buffer = Buffer.alloc(size);
    readSync(fd, buffer, 0, size, 0);
    text = buffer.toString('utf8');
  }
  if (text.split('\n').length <= count && existsSync(oldLog)) text = readFileSync(oldLog, 'utf8') + text;
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.length === 0 ? '' : `${lines.slice(-count).join('\n')}\n`;
}

function openIfExists(path: string): number | undefined {
  try {
    return openSync(path, 'r');
  } catch {
    return undefined;
  }
}

function statIno(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

/** Writes the file's bytes from `offset` to its current end; returns how many. */
function copyFrom(file: string | number, offset: number, out: NodeJS.WritableStream): number {
  const fd = typeof file === 'number' ? file : openSync(file, 'r');
  const buffer = Buffer.alloc(64 * 1024);
  let total = 0;
  try {
    for (;;) {
      const n = readSync(fd, buffer, 0, buffer.length, offset + total);
      if (n === 0) break;
      out.write(Buffer.from(buffer.subarray(0, n)));
      total += n;
    }
  } finally {
    if (typeof file !== 'number') closeSync(fd);
  }
  return total;
}
