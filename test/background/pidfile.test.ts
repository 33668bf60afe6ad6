// The pid file (src/background/pidfile.ts) in a temporary directory, against real processes: a
// record names the daemon only while that very process (same start time) still runs as a daemon
// of this user; a stale record is replaced, a live one is not, and a file is removed only by the
// process it names.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  acquirePidFile,
  isAlive,
  ownRecord,
  processStartTime,
  readPidFile,
  releasePidFile,
  runningDaemon,
  type PidRecord,
} from '../../src/background/pidfile.js';
import { tempDir } from '../support/git.js';

function dir(t: TestContext): string {
  const d = tempDir('grd-pidfile-');
  t.after(d.cleanup);
  return d.path;
}

async function until(what: string, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A process of this user whose command line is `title`: a daemon to the pid file when it names one. */
async function processTitled(t: TestContext, title: string): Promise<PidRecord> {
  const child = spawn('bash', ['-c', `exec -a '${title}' sleep 60`], { stdio: 'ignore' });
  t.after(() => child.kill());
  const pid = child.pid!;
  const cmdline = () => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      return '';
    }
  };
  await until('the title to be in place', () => cmdline().startsWith(`${title}\0`));
  return { pid, startTime: processStartTime(pid)! };
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn('true', [], { stdio: 'ignore' });
  await once(child, 'exit');
  return child.pid!;
}

test('a start time is read for a live process (later processes started no earlier), none for a gone one', async (t) => {
  const mine = processStartTime(process.pid);
  assert.match(mine ?? '', /^\d+$/);
  // Clock ticks since boot (USER_HZ, 100 on Linux): no process started before the boot or after now.
  const uptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  assert.ok(Number(mine) > 0 && Number(mine) <= uptime * 100 + 1, `${mine} ticks after boot, ${uptime} s up`);
  const child = await processTitled(t, 'a later process');
  assert.ok(Number(child.startTime) >= Number(mine), 'a child starts after its parent');
  assert.equal(processStartTime(await deadPid()), undefined);
  assert.deepEqual(ownRecord(), { pid: process.pid, startTime: mine });
});

test('pid file text: pid and start time, or a pid alone; anything else is no record', (t) => {
  const path = join(dir(t), 'pid');
  const read = (text: string) => {
    writeFileSync(path, text);
    return readPidFile(path);
  };
  assert.deepEqual(read('123 456\n'), { pid: 123, startTime: '456' });
  assert.deepEqual(read('123\n'), { pid: 123, startTime: '' }, 'written where /proc was not available');
  assert.equal(read('abc\n'), undefined);
  assert.equal(read('123 456\nmore\n'), undefined);
  assert.equal(read(''), undefined);
  assert.equal(readPidFile(join(dir(t), 'none')), undefined, 'no file');
});

test('a free pid file is claimed complete, private, by this process; release removes it', (t) => {
  const d = dir(t);
  const path = join(d, 'pid');
  const claimed = acquirePidFile(path);
  assert.ok(claimed.ok);
  assert.deepEqual(readPidFile(path), ownRecord());
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(d), ['pid'], 'no temporary file left behind');
  claimed.release();
  assert.equal(existsSync(path), false);
});

test('a live daemon\'s record holds: the claim names it and leaves the file as it was', async (t) => {
  const path = join(dir(t), 'pid');
  const daemon = await processTitled(t, 'git-remote-daemon background /some/repo');
  writeFileSync(path, `${daemon.pid} ${daemon.startTime}\n`);
  assert.equal(isAlive(daemon), true);
  assert.deepEqual(runningDaemon(path), daemon);
  const claimed = acquirePidFile(path);
  assert.deepEqual(claimed, { ok: false, holder: daemon });
  assert.equal(readFileSync(path, 'utf8'), `${daemon.pid} ${daemon.startTime}\n`);
});

test('stale records are replaced: a dead pid, a reused pid (another start time), a process that is no daemon, garbage', async (t) => {
  const daemon = await processTitled(t, 'git-remote-daemon background /some/repo');
  const other = await processTitled(t, 'sleep 60');
  const stale: [string, string][] = [
    ['a dead pid', `${await deadPid()} 1\n`],
    ['a reused pid', `${daemon.pid} ${Number(daemon.startTime) - 1}\n`],
    ['no daemon', `${other.pid} ${other.startTime}\n`],
    ['garbage', 'not a pid\n'],
    ['pid 0', '0 0\n'],
  ];
  for (const [what, text] of stale) {
    const d = dir(t);
    const path = join(d, 'pid');
    writeFileSync(path, text);
    assert.equal(runningDaemon(path), undefined, what);
    const claimed = acquirePidFile(path);
    assert.ok(claimed.ok, what);
    assert.deepEqual(readPidFile(path), ownRecord(), what);
    assert.deepEqual(readdirSync(d), ['pid'], `${what}: nothing moved aside is left behind`);
  }
});

test('release removes the file only while it still names this process', (t) => {
  const path = join(dir(t), 'pid');
  const mine = ownRecord();
  writeFileSync(path, `${mine.pid} ${mine.startTime}\n`);
  releasePidFile(path, { pid: mine.pid, startTime: `${mine.startTime}1` });
  assert.equal(existsSync(path), true, 'another start time: another process with this pid');
  writeFileSync(path, `${mine.pid + 1} ${mine.startTime}\n`);
  releasePidFile(path, mine);
  assert.equal(existsSync(path), true, 'another daemon took it over');
  writeFileSync(path, `${mine.pid} ${mine.startTime}\n`);
  releasePidFile(path, mine);
  assert.equal(existsSync(path), false);
});
