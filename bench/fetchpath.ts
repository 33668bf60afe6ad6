// Issue 21, must-have 5: is one `git fetch` process per change itself the cost on ssh? A standalone
// experiment on a real sshd on loopback (the plain test user), one held ssh2 connection, one small
// change per round (a commit with a ~4 KB file of random bytes: 3 objects), fetched five ways into
// clones of the same repository, order rotated round by round:
//
//  (a) the daemon today: its Fetcher (workers/fetcher.ts), i.e. `git fetch` with the daemon's
//      command line through the tunnel (workers/ssh/tunnel.ts, standby upload-pack included);
//  (b) no `git fetch`: protocol v2 in this process over an exec channel of the same held
//      connection (`git-upload-pack '<path>'`, GIT_PROTOCOL=version=2, started ahead like the
//      tunnel's standby): `ls-refs`, then `fetch` (want/have/done, thin-pack, ofs-delta,
//      include-tag), the pack from sideband 1 piped into `git unpack-objects` (fewer than
//      fetch.unpackLimit=100 objects, as git fetch chooses; `git index-pack --stdin --fix-thin`
//      otherwise), git fetch's connectivity check (`git rev-list --objects --stdin --not --all
//      --quiet`), then `git update-ref --stdin` (start/update <new> <old>/commit, reflog message
//      as a plain fetch writes it). All three git processes are started before the request is
//      sent, so their start-up overlaps the network: the best case for (b);
//  (bs) as (b), but each git process started only when it is needed, as git fetch does: what the
//      overlapped start-ups are worth;
//  (b0) as (b) without the connectivity check (two git processes): what (b) costs at least;
//  (floor) a plain `git fetch origin` over an open OpenSSH ControlMaster, the bench's ssh floor.
//
// Each round's five fetches get the same change; every clone is checked to hold the pushed commit
// after each round, and the (b) and (bs) clones are fsck'ed at the end. (git fetch adds
// `--alternate-refs` to its rev-list; these clones have no alternates.)
//
// Verdict (README, Benchmarks): (b) is 0.58-0.78 of (a) at the per-round median. This bench keeps
// none of git fetch's refspec, tag-following, prune, forced-update, transaction and fsck rules;
// the daemon's own version of (b), workers/direct/, carries out the plain case and gives way to
// git fetch for every other (test/direct/).
//
//   node dist/bench/fetchpath.js [rounds] [--trace]   (default 25 rounds; the verdict wants >= 15;
//                                                     --trace: where (a)'s git fetch spends its time)

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ClientChannel } from 'ssh2';
import { ChannelQueue } from '../workers/ssh/channels.js';
import { Fetcher } from '../workers/fetcher.js';
import { sqQuote } from '../shared/kit/shell.js';
import { tempDir } from '../test/support/git.js';
import { gitEnv, makeSshFixture, type SshFixture } from '../test/ssh/fixture.js';
import { heldTunnel, startControlMaster } from './ssh.js';
import { median, quantile } from './report.js';

const ARGS = process.argv.slice(2);
const ROUNDS = Math.max(1, Number(ARGS.find((a) => /^\d+$/.test(a)) ?? 25));
/** `--trace`: (a)'s git fetch writes trace2 events, and where its time goes is printed (it slows (a) a little). */
const TRACE = ARGS.includes('--trace');
const QUIET_MS = 100;
const UNPACK_LIMIT = 100; // fetch.unpackLimit / transfer.unpackLimit default
const FLUSH = '0000';
const DELIM = '0001';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pkt(line: string): string {
  return (line.length + 4).toString(16).padStart(4, '0') + line;
}

type Pkt = { kind: 'flush' | 'delim' | 'end' } | { kind: 'data'; payload: Buffer };

/** pkt-lines off a channel's stdout, one at a time. */
class PktReader {
  private buffer: Buffer = Buffer.alloc(0);
  private readonly ready: Pkt[] = [];
  private waiter: ((p: Pkt) => void) | undefined;
  stderr = '';

  constructor(readonly channel: ClientChannel) {
    channel.on('data', (chunk: Buffer) => this.push(chunk));
    channel.stderr.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    channel.once('close', () => this.deliver({ kind: 'end' }));
  }

  private push(chunk: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    while (this.buffer.length >= 4) {
      const length = parseInt(this.buffer.toString('latin1', 0, 4), 16);
      if (Number.isNaN(length)) throw new Error(`not a pkt-line: ${JSON.stringify(this.buffer.toString('latin1', 0, 20))}`);
      if (length < 4) {
        this.buffer = this.buffer.subarray(4);
        this.deliver({ kind: length === 1 ? 'delim' : 'flush' });
        continue;
      }
      if (this.buffer.length < length) return;
      const payload = this.buffer.subarray(4, length);
      this.buffer = this.buffer.subarray(length);
      this.deliver({ kind: 'data', payload });
    }
  }

  private deliver(p: Pkt): void {
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w(p);
    } else this.ready.push(p);
  }

  next(): Promise<Pkt> {
    const p = this.ready.shift();
    if (p) return Promise.resolve(p);
    return new Promise((resolve) => (this.waiter = resolve));
  }

  /** Lines up to the next flush (text, newline removed). */
  async section(): Promise<string[]> {
    const lines: string[] = [];
    for (;;) {
      const p = await this.next();
      if (p.kind === 'flush') return lines;
      if (p.kind === 'end') throw new Error(`upload-pack ended: ${this.stderr.trim()}`);
      if (p.kind === 'data') lines.push(p.payload.toString('utf8').replace(/\n$/, ''));
    }
  }
}

/** A v2 upload-pack started ahead of the next fetch, its capability advertisement read. */
async function openV2(queue: ChannelQueue, path: string): Promise<PktReader> {
  const channel = await queue.exec(`git-upload-pack ${sqQuote(path)}`, { env: { GIT_PROTOCOL: 'version=2' } });
  const reader = new PktReader(channel);
  const caps = await reader.section();
  if (caps[0] !== 'version 2') throw new Error(`not a v2 server: ${caps[0]}`);
  return reader;
}

/** A local ref's value without a git process: loose file, else packed-refs. */
function readRef(gitDir: string, ref: string): string | undefined {
  try {
    return readFileSync(join(gitDir, ref), 'utf8').trim();
  } catch {
    // packed
  }
  try {
    for (const line of readFileSync(join(gitDir, 'packed-refs'), 'utf8').split('\n')) {
      if (line.endsWith(` ${ref}`)) return line.slice(0, line.indexOf(' '));
    }
  } catch {
    // none
  }
  return undefined;
}

function git(cwd: string, args: string[]): ChildProcess {
  return spawn('git', args, { cwd, stdio: ['pipe', 'ignore', 'pipe'] });
}

function exited(child: ChildProcess, what: string): Promise<void> {
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve, reject) =>
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`${what} exited ${code}: ${stderr.trim()}`)))),
  );
}

/**
 * (b): one fetch of `+refs/heads/*:refs/remotes/origin/*` over a started v2 upload-pack. Only what
 * the bench's change needs: no negative refspecs, no tag following into refs/tags, no prune, no
 * forced-update check, no shallow or filter.
 */
/** (b)'s phases, ms from its start: refs listed, pack received, unpacked, connectivity checked, refs updated. */
const PHASES = ['listed', 'received', 'unpacked', 'connected', 'updated'] as const;
const phases: Record<(typeof PHASES)[number], number[]> = Object.fromEntries(PHASES.map((p) => [p, []])) as never;

async function v2Fetch(reader: PktReader, clone: string, { connectivity, prespawn }: { connectivity: boolean; prespawn: boolean }): Promise<void> {
  const t0 = performance.now();
  const mark = (phase: (typeof PHASES)[number]) => connectivity && prespawn && phases[phase].push(performance.now() - t0);
  const gitDir = join(clone, '.git');
  const start = (args: string[], what: string) => {
    const child = git(clone, args);
    return { child, done: exited(child, what) };
  };
  const startUpdateRef = () => {
    const proc = start(['update-ref', '--stdin', '-m', 'fetch origin: fast-forward'], 'git update-ref');
    proc.child.stdin!.write('start\n');
    return proc;
  };
  const startRevList = () => start(['rev-list', '--objects', '--stdin', '--not', '--all', '--quiet'], 'git rev-list (connectivity)');
  // prespawn: started before the request, so that their start-up overlaps the round trips
  // (unpack-objects on the guess that the pack is small); otherwise each when it is needed, as git
  // fetch does.
  let updateRef = prespawn ? startUpdateRef() : undefined;
  let unpack = prespawn ? start(['unpack-objects', '-q'], 'git unpack-objects') : undefined;
  let revList = prespawn && connectivity ? startRevList() : undefined;
  const { channel } = reader;
  try {
    channel.write(`${pkt('command=ls-refs\n')}${DELIM}${pkt('peel\n')}${pkt('symrefs\n')}${pkt('ref-prefix refs/heads/\n')}${pkt('ref-prefix refs/tags/\n')}${FLUSH}`);
    const updates: { ref: string; old: string | undefined; new: string }[] = [];
    for (const line of await reader.section()) {
      const [sha, name] = line.split(' ');
      if (!sha || !name?.startsWith('refs/heads/')) continue;
      const ref = `refs/remotes/origin/${name.slice('refs/heads/'.length)}`;
      const old = readRef(gitDir, ref);
      if (old !== sha) updates.push({ ref, old, new: sha });
    }
    if (!updates.length) throw new Error('nothing to fetch');
    mark('listed');
    const haves = updates.flatMap((u) => (u.old ? [`have ${u.old}\n`] : []));
    const wants = updates.map((u) => `want ${u.new}\n`);
    channel.write(
      `${pkt('command=fetch\n')}${DELIM}${['thin-pack\n', 'no-progress\n', 'ofs-delta\n', 'include-tag\n', ...wants, ...haves, 'done\n'].map(pkt).join('')}${FLUSH}`,
    );
    // With `done` the reply is the packfile section straight away (no acknowledgments).
    let section = '';
    let header: Buffer = Buffer.alloc(0);
    let decided = false;
    for (;;) {
      const p = await reader.next();
      if (p.kind === 'end') throw new Error(`upload-pack ended: ${reader.stderr.trim()}`);
      if (p.kind === 'flush') break;
      if (p.kind !== 'data') continue;
      if (section !== 'packfile') {
        section = p.payload.toString('utf8').trim();
        continue;
      }
      const band = p.payload[0];
      const data = p.payload.subarray(1);
      if (band === 3) throw new Error(`remote: ${data.toString()}`);
      if (band !== 1) continue;
      if (decided) {
        unpack!.child.stdin!.write(data);
        continue;
      }
      header = Buffer.concat([header, data]);
      if (header.length < 12) continue;
      decided = true;
      // git fetch unpacks fewer than fetch.unpackLimit objects, and keeps a bigger pack as a pack.
      if (header.readUInt32BE(8) >= UNPACK_LIMIT) {
        if (unpack) {
          unpack.child.kill();
          await unpack.done.catch(() => {});
        }
        unpack = start(['index-pack', '--stdin', '--fix-thin', '-q'], 'git index-pack');
      } else unpack ??= start(['unpack-objects', '-q'], 'git unpack-objects');
      unpack.child.stdin!.write(header);
    }
    mark('received');
    if (!unpack) throw new Error('no pack');
    unpack.child.stdin!.end();
    await unpack.done;
    mark('unpacked');
    if (connectivity) {
      revList ??= startRevList();
      revList.child.stdin!.end(updates.map((u) => `${u.new}\n`).join(''));
      await revList.done;
    }
    mark('connected');
    updateRef ??= startUpdateRef();
    updateRef.child.stdin!.end(`${updates.map((u) => `update ${u.ref} ${u.new} ${u.old ?? ''}\n`).join('')}commit\n`);
    await updateRef.done;
    mark('updated');
  } catch (err) {
    for (const proc of [updateRef, unpack, revList]) proc?.child.kill();
    throw err;
  } finally {
    channel.end(FLUSH);
  }
}

function stats(samples: number[]): string {
  return `${median(samples).toFixed(1).padStart(7)} ${quantile(samples, 0.9).toFixed(1).padStart(7)}`;
}

/** Where (a)'s git fetch spends its time, from its trace2 events: medians over the rounds (warm-up left out). */
function traceReport(traceDir: string): void {
  const rows: Record<string, number>[] = [];
  for (const file of readdirSync(traceDir).sort()) {
    const events = readFileSync(join(traceDir, file), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const argv = events.find((e) => e.event === 'start')?.argv as string[] | undefined;
    if (!argv?.includes('fetch')) continue; // unpack-objects and rev-list trace too
    const children = new Map<number, string>();
    const row: Record<string, number> = {};
    const at = (e: Record<string, unknown>) => {
      const t = String(e.time);
      return Date.parse(t.replace(/\.\d+Z$/, 'Z')) + Number(`0.${/\.(\d+)Z$/.exec(t)?.[1] ?? 0}`) * 1000;
    };
    const started = events.find((e) => e.event === 'start')!;
    const sinceStart = (e: Record<string, unknown>) => at(e) - at(started) + (started.t_abs as number) * 1000;
    for (const e of events) {
      if (e.event === 'child_start') children.set(e.child_id as number, (e.argv as string[]).join(' '));
      if (e.event === 'region_leave' && e.label === 'remote_refs') row['until refs listed (ssh/tunnel start + ls-refs)'] = sinceStart(e);
      if (e.event === 'region_leave' && e.label === 'negotiation_v2') row['negotiation'] = (e.t_rel as number) * 1000;
      if (e.event === 'region_leave' && e.label === 'fetch_refs') row['fetch_refs (negotiation, pack, unpack)'] = (e.t_rel as number) * 1000;
      if (e.event === 'child_exit') {
        const what = children.get(e.child_id as number) ?? '';
        if (/unpack-objects|index-pack/.test(what)) row['unpack-objects process'] = (e.t_rel as number) * 1000;
        if (/rev-list/.test(what)) row['rev-list (connectivity) process'] = (e.t_rel as number) * 1000;
      }
      if (e.event === 'region_leave' && e.label === 'consume_refs') row['consume_refs (connectivity + ref updates)'] = (e.t_rel as number) * 1000;
      if (e.event === 'exit') row['git fetch, start to exit'] = (e.t_abs as number) * 1000;
    }
    rows.push(row);
  }
  const kept = rows.slice(1);
  console.log(`(a) traced (trace2 events of ${kept.length} fetches), median ms:`);
  for (const key of Object.keys(kept[0] ?? {})) {
    const values = kept.map((r) => r[key]).filter((v): v is number => v !== undefined);
    console.log(`  ${key.padEnd(62)} ${median(values).toFixed(1).padStart(7)}`);
  }
}

async function main(): Promise<void> {
  const fx: SshFixture = await makeSshFixture({});
  const dir = tempDir('grd-bench-fetchpath-');
  const { client, queue, tunnel } = await heldTunnel(fx);
  const master = await startControlMaster(fx);
  try {
    const clones = { a: join(dir.path, 'a'), b: join(dir.path, 'b'), bs: join(dir.path, 'bs'), b0: join(dir.path, 'b0') };
    for (const clone of Object.values(clones)) gitEnv(dir.path, fx.sshEnv, 'clone', '-q', fx.url, clone);
    const traceDir = join(dir.path, 'trace2');
    if (TRACE) mkdirSync(traceDir);
    let failed: string | undefined;
    const fetcher = new Fetcher({
      remote: 'origin',
      cwd: clones.a,
      plan: async () => ({ env: { ...tunnel.env, ...(TRACE && { GIT_TRACE2_EVENT: traceDir }) } }),
      writeFetchHead: false,
      onStart: () => {},
    });
    let standby = openV2(queue, fx.remotePath);
    const ways: Record<string, () => Promise<number>> = {
      a: async () => {
        const start = performance.now();
        const outcome = await fetcher.run();
        failed = outcome?.ok ? undefined : (outcome?.stderr ?? 'no fetch ran');
        const took = performance.now() - start;
        if (failed !== undefined) throw new Error(`the daemon's fetch failed: ${failed}`);
        return took;
      },
      b: async () => {
        const start = performance.now();
        await v2Fetch(await standby, clones.b, { connectivity: true, prespawn: true });
        const took = performance.now() - start;
        standby = openV2(queue, fx.remotePath); // the next one, started ahead as the tunnel does
        return took;
      },
      bs: async () => {
        const start = performance.now();
        await v2Fetch(await standby, clones.bs, { connectivity: true, prespawn: false });
        const took = performance.now() - start;
        standby = openV2(queue, fx.remotePath);
        return took;
      },
      b0: async () => {
        const start = performance.now();
        await v2Fetch(await standby, clones.b0, { connectivity: false, prespawn: true });
        const took = performance.now() - start;
        standby = openV2(queue, fx.remotePath);
        return took;
      },
      floor: () => master.fetch(),
    };
    const names = Object.keys(ways);
    const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
    const push = (i: number) => {
      writeFileSync(join(fx.pusher, 'data.bin'), randomBytes(3072).toString('base64')); // ~4 KB
      gitEnv(fx.pusher, {}, 'add', 'data.bin');
      gitEnv(fx.pusher, {}, 'commit', '-q', '-m', `round ${i}`);
      gitEnv(fx.pusher, fx.sshEnv, 'push', '-q', 'origin', 'HEAD:refs/heads/main');
      return gitEnv(fx.pusher, {}, 'rev-parse', 'HEAD');
    };
    // One warm-up round, not recorded.
    for (let i = -1; i < ROUNDS; i++) {
      const sha = push(i);
      for (let k = 0; k < names.length; k++) {
        const name = names[(i + 1 + k) % names.length]!;
        await sleep(QUIET_MS);
        await standby; // both tunnel and (b) have their upload-pack started ahead
        const took = await ways[name]!();
        if (i >= 0) samples[name]!.push(took);
      }
      for (const clone of Object.values(clones)) {
        const got = gitEnv(clone, {}, 'rev-parse', 'refs/remotes/origin/main');
        if (got !== sha) throw new Error(`${clone}: origin/main is ${got}, not ${sha}`);
      }
    }
    for (const clone of [clones.b, clones.bs]) gitEnv(clone, {}, 'fsck', '--strict', '--no-dangling');
    const objects = (clone: string) => gitEnv(clone, {}, 'count-objects', '-v').split('\n').filter((l) => /^(count|in-pack):/.test(l)).join(', ');
    const reflog = gitEnv(clones.b, {}, 'reflog', '-1', '--format=%gs', 'refs/remotes/origin/main');
    const reflogA = gitEnv(clones.a, {}, 'reflog', '-1', '--format=%gs', 'refs/remotes/origin/main');

    console.log(`one new commit (~4 KB file, 3 objects) per round, ${ROUNDS} rounds, order rotated; ms`);
    console.log(`${'way'.padEnd(64)}  median     p90  median ratio to (a)`);
    const label: Record<string, string> = {
      a: "(a) daemon's Fetcher: git fetch through the tunnel",
      b: '(b) v2 fetch in-process + unpack-objects + rev-list + update-ref',
      bs: '(bs) as (b), each git process started only when needed',
      b0: '(b0) as (b) without the connectivity check',
      floor: '(floor) plain git fetch over ControlMaster',
    };
    for (const name of names) {
      const ratios = samples[name]!.map((x, i) => x / samples.a![i]!);
      console.log(`${label[name]!.padEnd(64)} ${stats(samples[name]!)}  ${median(ratios).toFixed(2)} (per-round; of medians ${(median(samples[name]!) / median(samples.a!)).toFixed(2)})`);
    }
    console.log(`(b) phases, median ms from its start: ${PHASES.map((p) => `${p} ${median(phases[p].slice(1)).toFixed(1)}`).join(', ')}`);
    if (TRACE) traceReport(traceDir);
    console.log(`objects: (a) ${objects(clones.a)}; (b) ${objects(clones.b)}; (b) and (bs) fsck --strict clean`);
    console.log(`reflog: (a) "${reflogA}"; (b) "${reflog}"`);
  } finally {
    await master.stop();
    await tunnel.close();
    client.end();
    dir.cleanup();
    await fx.cleanup();
  }
}

await main();
