// One fetch without `git fetch`: over an upload-pack the transport already holds (ssh: the
// tunnel's standby channel, started ahead), protocol v2 in this thread, the pack into git
// unpack-objects as it arrives, then git fetch's own checks and ref updates (store.ts). It saves
// the `git fetch` process, its ssh helper and the relay hop: on a one-commit change about a third of
// the time from push to moved refs (README, Benchmarks: `npm run bench`, ssh).
//
// Whenever git fetch could do something this does not (plan.ts), or anything goes wrong before a
// ref moved (the server breaks the protocol, the pack does not unpack or leaves objects missing,
// a branch was rewritten), the answer is `fallback` and the daemon runs `git fetch` as always,
// which then does what it would have done, with git's own words. Only a stop, a cancel or a stall
// ends a direct fetch for good.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { commonDirOf } from '../../shared/kit/gitdir.js';
import { parseConfigList } from '../../shared/gitconfig.js';
import { matchPattern } from '../../shared/refs/refspec.js';
import type { DirectFetchRequest, DirectFetchResult } from '../../shared/transport.js';
import { directSetup, planFetch, refPrefixesOf, type DirectSetup, type RefMove, type RepoFacts } from './plan.js';
import { UploadPackV2, type WireChannel } from './protocol.js';
import { connected, fetchReport, isFastForward, readConfig, readLocalRefs, Unpacker, updateRefs } from './store.js';

/** An upload-pack speaking protocol v2, and what it said before it was handed over. */
export interface OpenedUploadPack {
  channel: WireChannel;
  early: Buffer[];
}

/** Ends a direct fetch in favour of `git fetch`; nothing of ours moved. */
class Fallback extends Error {
  override name = 'Fallback';
}

const PACK_HEADER_BYTES = 12;

export function repoFacts(cwd: string, gitDir: string): RepoFacts {
  const common = commonDirOf(gitDir);
  return {
    shallow: existsSync(join(common, 'shallow')),
    alternates: existsSync(join(common, 'objects', 'info', 'alternates')) || !!process.env.GIT_ALTERNATE_OBJECT_DIRECTORIES,
    submodules: existsSync(join(cwd, '.gitmodules')) || existsSync(join(common, 'modules')),
  };
}

/** Carries out `request` over what `open` gives, or says why git fetch must. */
export async function directFetch(request: DirectFetchRequest, open: () => Promise<OpenedUploadPack>): Promise<DirectFetchResult> {
  const { cwd, signal } = request;
  let wire: UploadPackV2 | undefined;
  try {
    const config = parseConfigList(await readConfig(cwd, signal));
    const setup = directSetup(request.remote, config, repoFacts(cwd, request.gitDir), request.writeFetchHead);
    if ('fallback' in setup) return { carried: false, why: setup.fallback };
    const prefixes = [...new Set(setup.refspecs.map((s) => s.dst.slice(0, s.dst.lastIndexOf('/') + 1)))];
    const localRefs = readLocalRefs(cwd, prefixes, (ref) => setup.refspecs.some((s) => matchPattern(s.dst, ref) !== null), signal);
    localRefs.catch(() => {});
    const opened = await open();
    wire = new UploadPackV2(opened.channel, opened.early, request.onData);
    await wire.capabilities();
    const remoteRefs = await wire.lsRefs(refPrefixesOf(setup));
    const plan = planFetch(setup, remoteRefs, await localRefs);
    if ('fallback' in plan) return { carried: false, why: plan.fallback };
    if ('upToDate' in plan) return { carried: true, report: '' };
    await receive(wire, plan.wants, plan.haves, setup, request);
    wire.close();
    await check(cwd, plan.moves, plan.wants, signal);
    await updateRefs(cwd, request.remote, plan.moves, signal);
    return { carried: true, report: fetchReport(request.url, plan.moves) };
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    return { carried: false, why: err instanceof Error ? err.message : String(err) };
  } finally {
    wire?.close();
  }
}

/** The pack, into unpack-objects as it arrives; a pack git fetch would keep as a pack is left to it. */
async function receive(wire: UploadPackV2, wants: string[], haves: string[], setup: DirectSetup, request: DirectFetchRequest): Promise<void> {
  let header: Buffer = Buffer.alloc(0);
  let unpacker: Unpacker | undefined;
  try {
    await wire.fetch(wants, haves, {
      data: async (chunk) => {
        if (!unpacker) {
          header = Buffer.concat([header, chunk]);
          if (header.length < PACK_HEADER_BYTES) return;
          if (header.toString('latin1', 0, 4) !== 'PACK') throw new Fallback('the server sent something that is not a pack');
          const objects = header.readUInt32BE(8);
          if (objects >= setup.unpackLimit) throw new Fallback(`a pack of ${objects} objects (git fetch keeps it as a pack)`);
          unpacker = new Unpacker(request.cwd, setup.fsck, request.signal);
          chunk = header;
        }
        await unpacker.write(chunk);
      },
      progress: (line) => request.onProgress(`remote: ${line}`),
    });
    if (!unpacker) throw new Fallback('the server sent no pack');
    await unpacker.finish();
  } catch (err) {
    void unpacker?.finish().catch(() => {}); // ends it; what it stored is harmless and git fetch reuses it
    throw err;
  }
}

/** git fetch's checks before a ref moves: every object is here, and each move is a fast-forward. */
async function check(cwd: string, moves: RefMove[], wants: string[], signal: AbortSignal): Promise<void> {
  const [complete, ...forward] = await Promise.all([
    connected(cwd, wants, signal),
    ...moves.map((m) => (m.old === undefined ? Promise.resolve(true) : isFastForward(cwd, m.old, m.new, signal))),
  ]);
  if (!complete) throw new Fallback('the pack left objects missing');
  const rewritten = moves.find((_, i) => !forward[i]);
  if (rewritten) throw new Fallback(`${rewritten.dst} is not a fast-forward`);
}
