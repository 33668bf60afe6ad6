// `npm run proof`: the figures behind "a broken or hostile server costs only itself", measured on
// a real OpenSSH sshd on loopback with the real daemon binary:
//   flood    a notifier that floods garbage: peak RSS, log lines written, STOP time
//   restarts sshd restarted 20 times, 1-3 s after each catch-up, a push in each outage: restart -> fetched
//   stall    every server process of the connection frozen, default keepalive: time to notice
//   idle     10 connected ssh remotes, nothing happening: CPU over a minute
//   memory   PSS per added local remote, and 50 local remotes with their children

import { startDaemon, eventually, type RunningDaemon } from '../test/support/daemon.js';
import { git, refValue } from '../test/support/git.js';
import { makeSshFixture, type SshFixture } from '../test/ssh/fixture.js';
import type { StartSshdOptions } from '../test/support/sshd.js';
import { cpuTicks, procStatus } from './procfs.js';
import { localMemory } from './local.js';
import { median, report } from './report.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function withDaemon<T>(opts: StartSshdOptions, configure: (fx: SshFixture) => void, body: (fx: SshFixture, d: RunningDaemon) => Promise<T>): Promise<T> {
  const fx = await makeSshFixture(opts);
  git(fx.local, 'config', 'core.sshCommand', fx.sshd.sshCommand);
  configure(fx);
  const d = startDaemon(fx.local);
  try {
    return await body(fx, d);
  } finally {
    await d.stop();
    await fx.cleanup();
  }
}

async function serverCommit(fx: SshFixture, message: string): Promise<string> {
  const run = (argv: string[]) => fx.sshd.runAsUser(['git', '-C', fx.remotePath, ...argv], { env: { GIT_AUTHOR_NAME: 'A', GIT_AUTHOR_EMAIL: 'a@b', GIT_COMMITTER_NAME: 'A', GIT_COMMITTER_EMAIL: 'a@b' } });
  const parent = (await run(['rev-parse', 'main'])).stdout.trim();
  const tree = (await run(['rev-parse', 'main^{tree}'])).stdout.trim();
  const sha = (await run(['commit-tree', '-p', parent, '-m', message, tree])).stdout.trim();
  await run(['update-ref', 'refs/heads/main', sha]);
  return sha;
}

async function flood(): Promise<void> {
  const shims = { 'garbage-notifier': "#!/bin/sh\necho READY\nexec yes 'not a notifier line'\n" };
  await withDaemon(
    { serverBin: { gitRemoteDaemon: true, shims } },
    (fx) => git(fx.local, 'config', 'remote.origin.remotedaemon-notifier', 'garbage-notifier'),
    async (_fx, d) => {
      await d.waitFor('CONNECTED origin', { timeoutMs: 20_000 });
      let peak = 0;
      for (let i = 0; i < 25; i++) {
        peak = Math.max(peak, procStatus(d.child.pid!, 'VmRSS') / 1024);
        await sleep(200);
      }
      const stopAt = Date.now();
      d.send('STOP');
      const { at } = await d.exited;
      report('flood: peak daemon RSS over 5 s (target < 150 MB)', `${peak.toFixed(0)} MB`);
      report('flood: log lines written in 5 s / WARNINGs', `${d.stderr.length} / ${d.lines.filter((l) => l.startsWith('WARNING')).length}`);
      report('flood: STOP to exit (target < 2000 ms)', `${at - stopAt} ms`);
    },
  );
}

/**
 * Issue 17's restart figure: 20 cycles of "sshd stopped, push made, sshd started", each a few
 * seconds after the last catch-up (younger than any "healthy after some seconds" would allow). A
 * push not fetched within 20 s gets a RESUME, and counts as not fetched without it.
 */
async function restarts(rounds = 20): Promise<void> {
  await withDaemon({ serverBin: { gitRemoteDaemon: true } }, () => {}, async (fx, d) => {
    await d.waitFor('CONNECTED origin', { timeoutMs: 20_000 });
    await eventually(() => refValue(fx.local, 'refs/remotes/origin/main') !== undefined, 'first catch-up', 20_000);
    const took: number[] = [];
    let fetched = 0;
    for (let round = 1; round <= rounds; round++) {
      await sleep(1000 + Math.random() * 2000); // 1-3 s after the last catch-up
      await fx.sshd.stop();
      await d.waitForCount('DISCONNECTED origin', round, 20_000);
      const sha = await serverCommit(fx, `outage ${round}`);
      await sleep(500 + Math.random() * 2500); // outages of 0.5-3 s
      await fx.sshd.start();
      const at = Date.now();
      const landed = () => refValue(fx.local, 'refs/remotes/origin/main') === sha;
      try {
        await eventually(landed, 'fetched', 20_000);
        fetched++;
        took.push(Date.now() - at);
      } catch {
        took.push(Infinity);
        d.send('RESUME'); // so the next round starts connected
        await eventually(landed, 'fetched after RESUME', 30_000);
      }
    }
    const med = median(took);
    const max = Math.max(...took);
    const met = fetched === rounds && med <= 2000 && max <= 5000;
    report(`restarts: pushes fetched without RESUME, of ${rounds} (target all)`, `${fetched}`);
    report('restarts: restart -> fetched (target median <= 2 s, max <= 5 s)', `median ${med.toFixed(0)} ms, max ${max.toFixed(0)} ms: ${met ? 'met' : 'not met'}`);
    report('restarts: each round, restart -> fetched', took.map((ms) => (Number.isFinite(ms) ? (ms / 1000).toFixed(1) : 'RESUME')).join(' '));
  });
}

async function stall(): Promise<void> {
  await withDaemon({ serverBin: { gitRemoteDaemon: true } }, () => {}, async (fx, d) => {
    await d.waitFor('CONNECTED origin', { timeoutMs: 20_000 });
    await sleep(1000);
    const frozen = fx.sshd.freezeConnections();
    const at = Date.now();
    try {
      await d.waitFor('DISCONNECTED origin', { timeoutMs: 60_000 });
      const took = Date.now() - at;
      const reason = d.lines.find((l) => /^WARNING origin .*stalled/.test(l)) ?? d.stderr.find((l) => /stalled/.test(l)) ?? '(no stall reported)';
      report('stall: noticed with default keepalive (target <= 20 s)', `${(took / 1000).toFixed(1)} s`);
      report('stall: reported as', reason.slice(0, 110));
    } finally {
      fx.sshd.thaw(frozen);
    }
  });
}

async function idle(remotes = 10, seconds = 60): Promise<void> {
  await withDaemon(
    { serverBin: { gitRemoteDaemon: true } },
    (fx) => {
      for (let i = 1; i < remotes; i++) {
        git(fx.local, 'remote', 'add', `r${i}`, fx.url);
        git(fx.local, 'config', `remote.r${i}.fetch`, `+refs/heads/*:refs/remotes/r${i}/*`);
      }
    },
    async (_fx, d) => {
      await d.waitForCount(/^CONNECTED /, remotes, 60_000);
      await sleep(15_000); // catch-ups done, cat-files ended
      const hz = 100;
      const before = cpuTicks(d.child.pid!);
      await sleep(seconds * 1000);
      const used = (cpuTicks(d.child.pid!) - before) / hz;
      report(`idle: ${remotes} connected ssh remotes, CPU over ${seconds} s (target < 0.3 %)`, `${((used / seconds) * 100).toFixed(2)} % of a core`);
    },
  );
}

async function memory(): Promise<void> {
  // 12 s: past the cat-files' idle time, as a daemon is most of its life.
  const measure = (remotes: number) => localMemory(remotes, 12_000);
  const one = await measure(1);
  const ten = await measure(10);
  const fifty = await measure(50);
  report('memory: PSS per added local remote (target <= 7 MB)', `${((ten.pssMb - one.pssMb) / 9).toFixed(1)} MB (1: ${one.pssMb.toFixed(0)} MB, 10: ${ten.pssMb.toFixed(0)} MB)`);
  report('memory: 50 local remotes, PSS with children (target <= 400 MB)', `${fifty.treePssMb.toFixed(0)} MB (${fifty.children} child processes)`);
}

const only = process.argv.slice(2);
const sections: Record<string, () => Promise<void>> = { flood, restarts, stall, idle, memory };
console.log(`git-remote-daemon proof (node ${process.version}): ${only.length ? only.join(', ') : 'all sections'}\n`);
for (const [name, section] of Object.entries(sections)) if (!only.length || only.includes(name)) await section();
