// Many repositories: one shared daemon (`register` + `start --all`) side by side with one daemon
// per repository, in the same run, on the same repositories (each with one local remote).
//
//   node dist/bench/hub.js [repositories]    (default 30; also part of `npm run bench`)
//
// Targets (issue 20): the shared daemon with 30 repositories <= 300 MB PSS including its child
// processes, idle < 0.5 % of a core, and register -> first fetch <= 2 s. Each is printed with the
// same figure for N separate daemons beside it, which is what the shared daemon replaces.

import { join } from 'node:path';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cli, pathsOf } from '../test/background/support.js';
import { eventually } from '../test/support/daemon.js';
import { makeFixture, pushCommit, refValue, tempDir, type Fixture } from '../test/support/git.js';
import { readPidFile } from '../src/background/pidfile.js';
import { readState } from '../src/background/state.js';
import { cpuNs, pssMb, tree } from './procfs.js';
import { median, report } from './report.js';

/** Past start-up: catch-ups done, cat-files ended, V8's start-up collections over (as bench/proof.ts memory). */
const SETTLE_MS = 12_000;
// A minute: the once-a-minute timers (clock-jump check, watchdog backstop) fall inside it.
const IDLE_SECONDS = 60;
const REGISTER_ROUNDS = 5;

interface Setting {
  env: NodeJS.ProcessEnv;
  cleanup(): void;
}

/** A global git config and state directory of the bench's own: its registered set is its own. */
function setting(): Setting {
  const dir = tempDir('grd-bench-hub-');
  const env = { GIT_CONFIG_GLOBAL: join(dir.path, 'gitconfig'), XDG_STATE_HOME: join(dir.path, 'state') };
  writeFileSync(env.GIT_CONFIG_GLOBAL, '[user]\n\tname = Bench\n\temail = bench@example.invalid\n');
  return { env, cleanup: dir.cleanup };
}

async function run(cwd: string, env: NodeJS.ProcessEnv, ...args: string[]): Promise<string> {
  const result = await cli(cwd, args, env);
  if (result.code !== 0) throw new Error(`git-remote-daemon ${args.join(' ')} in ${cwd}: exit ${result.code}: ${result.stderr.trim()}`);
  return result.stdout;
}

/** The pid serving `repo` once every one of its remotes is connected, else undefined. */
function servingPid(repo: string): number | undefined {
  const paths = pathsOf(repo);
  const record = readPidFile(paths.pidFile);
  const state = readState(paths.state);
  if (!record || !state || state.pid !== record.pid) return undefined;
  return state.remotes.length > 0 && state.remotes.every((r) => r.connected) ? record.pid : undefined;
}

async function allServed(repos: Fixture[]): Promise<number[]> {
  await eventually(() => repos.every((fx) => servingPid(fx.local) !== undefined), `all ${repos.length} repositories are served and connected`, 120_000);
  return [...new Set(repos.map((fx) => servingPid(fx.local)!))];
}

interface Cost {
  pssMb: number;
  processes: number;
  idlePct: number;
  idleMs: number;
}

/** PSS of the daemons and their children after settling, then CPU over IDLE_SECONDS of nothing happening. */
async function costOf(daemons: number[]): Promise<Cost> {
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const pids = [...new Set(daemons.flatMap((pid) => tree(pid)))];
  const mb = pssMb(pids);
  const cpu = () => daemons.reduce((total, pid) => total + cpuNs(pid), 0);
  const before = cpu();
  await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
  const used = cpu() - before;
  return { pssMb: mb, processes: pids.length, idlePct: (used / (IDLE_SECONDS * 1e9)) * 100, idleMs: used / 1e6 };
}

async function separate(repos: Fixture[], env: NodeJS.ProcessEnv): Promise<Cost> {
  try {
    for (const fx of repos) await run(fx.local, env, 'start');
    return await costOf(await allServed(repos));
  } finally {
    await Promise.all(repos.map((fx) => cli(fx.local, ['stop'], env)));
  }
}

async function shared(repos: Fixture[], env: NodeJS.ProcessEnv): Promise<{ cost: Cost; registerMs: number[] }> {
  for (const fx of repos) await run(fx.local, env, 'register');
  await run(repos[0]!.local, env, 'start', '--all');
  try {
    const daemons = await allServed(repos);
    if (daemons.length !== 1) throw new Error(`expected one shared daemon, found ${daemons.length}: ${daemons.join(', ')}`);
    const cost = await costOf(daemons);
    // A repository registered while the shared daemon runs, whose remote has a commit it has not
    // fetched: from running `register` to the commit in its tracking ref.
    const registerMs: number[] = [];
    for (let i = 0; i < REGISTER_ROUNDS; i++) {
      const fx = makeFixture();
      try {
        const sha = pushCommit(fx.pusher);
        const started = performance.now();
        await run(fx.local, env, 'register');
        await eventually(() => refValue(fx.local, 'refs/remotes/origin/main') === sha, 'the newly registered repository fetched its remote', 30_000).catch((err: Error) => {
          throw new Error(`${err.message}\nshared log:\n${tail(join(env.XDG_STATE_HOME!, 'git-remote-daemon', 'log'))}\nits log:\n${tail(pathsOf(fx.local).log)}`);
        });
        registerMs.push(performance.now() - started);
        if (process.env.GRD_BENCH_TRACE) console.log(`register took ${(performance.now() - started).toFixed(0)} ms at ${new Date(Date.now() - (performance.now() - started)).toISOString()}\nshared log:\n${tail(join(env.XDG_STATE_HOME!, 'git-remote-daemon', 'log'), 8)}\nits log:\n${tail(pathsOf(fx.local).log, 30)}`);
        await run(fx.local, env, 'unregister');
      } finally {
        await eventually(() => readPidFile(pathsOf(fx.local).pidFile) === undefined, 'the unregistered repository is let go', 10_000).catch(() => {});
        fx.cleanup();
      }
    }
    return { cost, registerMs };
  } finally {
    await cli(repos[0]!.local, ['stop', '--all'], env);
  }
}

function tail(path: string, lines = 20): string {
  return existsSync(path) ? readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n') : '(none)';
}

function met(ok: boolean): string {
  return ok ? 'met' : 'NOT MET';
}

export async function benchHub(count = 30): Promise<void> {
  const where = setting();
  const repos = Array.from({ length: count }, () => makeFixture());
  try {
    const own = await separate(repos, where.env);
    const one = await shared(repos, where.env);
    const { cost } = one;
    report(
      `${count} repositories x 1 local remote: PSS with children (target <= 300 MB)`,
      `shared daemon ${cost.pssMb.toFixed(0)} MB (${cost.processes} processes) ${met(cost.pssMb <= 300)}; ${count} daemons ${own.pssMb.toFixed(0)} MB (${own.processes} processes); ratio ${(cost.pssMb / own.pssMb).toFixed(2)}`,
    );
    report(
      `${count} repositories: idle CPU over ${IDLE_SECONDS} s (target < 0.5 %)`,
      `shared daemon ${cost.idlePct.toFixed(3)} % of a core (${cost.idleMs.toFixed(1)} ms) ${met(cost.idlePct < 0.5)}; ${count} daemons ${own.idlePct.toFixed(3)} % (${own.idleMs.toFixed(1)} ms)`,
    );
    const ms = median(one.registerMs);
    report(
      `register -> first fetch, median of ${REGISTER_ROUNDS} (target <= 2 s)`,
      `${ms.toFixed(0)} ms (min ${Math.min(...one.registerMs).toFixed(0)}, max ${Math.max(...one.registerMs).toFixed(0)}) ${met(ms <= 2000)}`,
    );
  } finally {
    for (const fx of repos) fx.cleanup();
    where.cleanup();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await benchHub(process.argv[2] ? Number(process.argv[2]) : undefined);
}
