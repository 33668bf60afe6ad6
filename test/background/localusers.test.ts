// Another local user on the same machine (issue 16): attacked from outside the process, as the
// user `nobody` (runuser), against a daemon run by this (root) user. Squatting the lock name and
// answering with a foreign pid, a process of theirs dressed as the daemon, a daemon directory made
// by them, a symlink planted at the metrics file's temporary name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { git, pushCommit, tempDir } from '../support/git.js';
import { eventually } from '../support/daemon.js';
import { alive, backgroundFixture, cli, pidFrom, waitForLog } from './support.js';

const OTHER = 'nobody';
const canSwitch = process.getuid?.() === 0 && spawnSync('runuser', ['-u', OTHER, '--', 'true']).status === 0;
// In CI (root, as .ci/run runs it) these attacks must run: a skip there would hide a broken promise.
const skip = canSwitch || process.env.CI ? false : 'needs root and runuser to act as a second user';

/** Runs `node -e script` as the other user in `cwd`; resolves with the process once it prints its first line. */
async function asOther(t: { after(fn: () => unknown): void }, cwd: string, script: string): Promise<{ child: ChildProcess; first: string }> {
  // In a process group of its own: runuser does not pass a kill on to the command it runs.
  const child = spawn('runuser', ['-u', OTHER, '--', process.execPath, '-e', script], { cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  t.after(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // gone already
    }
  });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c));
  const first = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`${OTHER}'s process exited (${code}) before saying anything: ${stderr}`)));
  });
  return { child, first };
}

/** Runs a command as the other user; its exit status and stderr. */
function runAsOther(cwd: string, args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync('runuser', ['-u', OTHER, '--', ...args], { cwd, encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

/** The fixture, its directories open to others for reading (as a home directory usually is). */
function openFixture(t: Parameters<typeof backgroundFixture>[0]) {
  const fx = backgroundFixture(t);
  chmodSync(fx.root, 0o755);
  return fx;
}

/** An unrelated process of this user that nobody should ever signal. */
function bystander(t: { after(fn: () => unknown): void }): ChildProcess {
  const child = spawn('sleep', ['600'], { stdio: 'ignore' });
  t.after(() => child.kill('SIGKILL'));
  return child;
}

/** The abstract socket name the lock had until issue 16 (a hash of the common git dir). */
function oldLockName(commonDir: string): string {
  return `\0git-remote-daemon/${createHash('sha256').update(realpathSync(commonDir)).digest('hex')}`;
}

/** A listener as the other user, on the old abstract lock name, answering `<pid> background`. */
function squatter(t: { after(fn: () => unknown): void }, commonDir: string, answerPid: number) {
  const name = JSON.stringify(oldLockName(commonDir));
  return asOther(t, '/', `require('net').createServer((s) => s.end('${answerPid} background\\n')).listen(${name}, () => console.log('listening'))`);
}

test('another user squatting the lock name with a foreign pid neither blocks start nor is believed; the lock and pipe refuse them', { skip }, async (t) => {
  const fx = openFixture(t);
  const victim = bystander(t);
  assert.equal((await squatter(t, join(fx.local, '.git'), victim.pid!)).first, 'listening');

  const started = await cli(fx.local, []);
  assert.equal(started.code, 0, started.stderr);
  assert.match(started.stdout, /started \(pid \d+\)/, 'the squatter does not make it "already running"');
  const pid = pidFrom(started.stdout);
  assert.notEqual(pid, victim.pid);
  await waitForLog(fx.paths, 'CONNECTED origin');

  // The other user cannot reach the daemon's lock or control pipe at all.
  for (const name of readdirSync(fx.paths.dir)) {
    const reach = runAsOther('/', [process.execPath, '-e', `require('fs').accessSync(${JSON.stringify(join(fx.paths.dir, name))})`]);
    assert.notEqual(reach.status, 0, `${name} is out of ${OTHER}'s reach`);
    assert.match(reach.stderr, /EACCES/);
  }
  const status = await cli(fx.local, ['status']);
  assert.match(status.stdout, new RegExp(`running \\(pid ${pid}\\)`));

  const stopped = await cli(fx.local, ['stop']);
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.match(stopped.stdout, new RegExp(`stopped \\(pid ${pid}\\)`));
  assert.equal(alive(pid), false);
  assert.equal(existsSync(join(fx.paths.dir, 'lock')), false, 'the lock socket is removed with the daemon');
  assert.equal(alive(victim.pid!), true, 'the pid the squatter named was never signalled');
});

test('stop with no daemon running never signals the pid a squatter answers with', { skip }, async (t) => {
  const fx = openFixture(t);
  const victim = bystander(t);
  await squatter(t, join(fx.local, '.git'), victim.pid!);
  const stopped = await cli(fx.local, ['stop']);
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.match(stopped.stdout, /no daemon is running/);
  const status = await cli(fx.local, ['status']);
  assert.equal(status.code, 3, status.stdout);
  assert.equal(alive(victim.pid!), true);
});

test("another user's process dressed as this repository's daemon, named in the pid file, is neither reported nor signalled", { skip }, async (t) => {
  const fx = openFixture(t);
  // Its title is the daemon's, its working directory the repository, and the pid file names it
  // with its true start time: everything but its owner says "the daemon".
  const title = JSON.stringify(`git-remote-daemon ${fx.local}`);
  const impostor = await asOther(t, fx.local, `process.title = ${title}; setInterval(() => {}, 1e6); console.log(process.pid)`);
  const pid = Number(impostor.first);
  assert.ok(readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('git-remote-daemon '));
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const startTime = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  mkdirSync(fx.paths.dir, { mode: 0o700 });
  writeFileSync(fx.paths.pidFile, `${pid} ${startTime}\n`, { mode: 0o600 });

  const status = await cli(fx.local, ['status']);
  assert.equal(status.code, 3, status.stdout);
  const stopped = await cli(fx.local, ['stop']);
  assert.match(stopped.stdout, /no daemon is running/);
  assert.equal(alive(pid), true, `${OTHER}'s process was not signalled`);
  // And a start treats the pid file as stale rather than "already running".
  const started = await cli(fx.local, []);
  assert.match(started.stdout, /started \(pid \d+\)/, started.stdout + started.stderr);
  assert.equal((await cli(fx.local, ['stop'])).code, 0);
  assert.equal(alive(pid), true);
});

test('a .git/remote-daemon made by another user (a shared repository) is refused, naming that user; nothing is written into it', { skip }, async (t) => {
  const fx = openFixture(t);
  const gitDir = join(fx.local, '.git');
  chmodSync(gitDir, 0o777); // as group-writable as core.sharedRepository makes it, for nobody's sake
  const made = runAsOther(gitDir, ['mkdir', '-m', '0777', 'remote-daemon']);
  assert.equal(made.status, 0, made.stderr);

  for (const args of [[], ['--foreground']]) {
    const refused = await cli(fx.local, args);
    assert.equal(refused.code, 1, `${args.join(' ')}: ${refused.stdout}`);
    assert.match(refused.stderr, /remote-daemon belongs to nobody \(uid 65534\), not to you \(root \(uid 0\)\)/);
  }
  assert.deepEqual(readdirSync(fx.paths.dir), [], 'no file of ours in their directory');
  assert.equal(lstatSync(fx.paths.dir).mode & 0o777, 0o777, 'and it was not chmod-ed either');
});

test('a symlink planted at the metrics file temporary name is not followed: the file it points at is untouched', { skip }, async (t) => {
  const fx = openFixture(t);
  const shared = tempDir();
  t.after(() => shared.cleanup());
  chmodSync(shared.path, 0o777); // a textfile collector directory others can write to
  const victim = join(fx.root, 'secret');
  writeFileSync(victim, 'secret\n', { mode: 0o600 });
  const file = join(shared.path, 'repo.prom');
  git(fx.local, 'config', 'remotedaemon.metricsFile', file);
  const pid = pidFrom((await cli(fx.local, [])).stdout);
  await waitForLog(fx.paths, 'CONNECTED origin');
  await eventually(() => existsSync(file), 'the metrics file is written');

  // The old temporary name was `.<name>.<pid>.tmp`: plant a symlink there, as the other user.
  const planted = join(shared.path, `.repo.prom.${pid}.tmp`);
  const link = runAsOther(shared.path, ['ln', '-s', victim, planted]);
  assert.equal(link.status, 0, link.stderr);
  pushCommit(fx.pusher);
  await waitForLog(fx.paths, 'DONESYNCING origin 1');
  await eventually(() => readFileSync(file, 'utf8').includes('result="success"} 1\n'), 'the fetch is counted in the metrics file');

  assert.equal(readFileSync(victim, 'utf8'), 'secret\n', 'the file the symlink points at is untouched');
  assert.equal(readlinkSync(planted), victim, 'the planted symlink is still where it was');
  assert.ok(lstatSync(file).isFile(), 'the metrics file is a file of its own');
  assert.deepEqual(readdirSync(shared.path).sort(), [`.repo.prom.${pid}.tmp`, 'repo.prom'], 'no temporary file left behind');
  assert.equal((await cli(fx.local, ['stop'])).code, 0);
});

test('a lock held by something that is not the daemon, answering with another pid, is an error naming its owner, never "already running"; stop signals nothing', async (t) => {
  const fx = openFixture(t);
  const victim = bystander(t);
  mkdirSync(fx.paths.dir, { mode: 0o700 });
  // Only this user (or root) can bind there: a plain process of ours, without the daemon's title.
  const lock = join(fx.paths.dir, 'lock');
  const holder = spawn(process.execPath, ['-e', `require('net').createServer((s) => s.end('${victim.pid} background\\n')).listen(${JSON.stringify(lock)}, () => console.log('listening'))`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => holder.kill('SIGKILL'));
  await new Promise((resolve) => createInterface({ input: holder.stdout! }).once('line', resolve));

  const started = await cli(fx.local, []);
  assert.equal(started.code, 1, started.stdout);
  assert.match(started.stderr, new RegExp(`lock .* is held by a socket of root \\(uid 0\\) that is not a daemon of yours \\(it says pid ${victim.pid}\\)`));
  const stopped = await cli(fx.local, ['stop']);
  assert.match(stopped.stdout, /no daemon is running/);
  assert.equal((await cli(fx.local, ['status'])).code, 3);
  assert.equal(alive(victim.pid!), true);
});
