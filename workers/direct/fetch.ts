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

/**
 * The remote's refs a direct fetch can use: branches, and tags for git fetch's tag rules. Asked for
 * before the config is read, so that the round trip overlaps it; a refspec from elsewhere falls
 * back anyway (plan.ts).
 */
const REMOTE_PREFIXES = ['refs/heads/', 'refs/tags/'];
/** Where the refspecs a direct fetch can carry out store (plan.ts), and the tags. */
const LOCAL_PREFIXES = ['refs/remotes/'];

/**
 * Carries out `request` over what `open` gives, or says why git fetch must. The config, the local
 * refs and the remote's ref list are read side by side, and unpack-objects is started while the
 * request goes out: each git process's start-up overlaps the network instead of adding to it.
 */
export async function directFetch(request: DirectFetchRequest, open: () => Promise<OpenedUploadPack>): Promise<DirectFetchResult> {
  const { cwd, signal } = request;
  let wire: UploadPackV2 | undefined;
  let unpacker: Unpacker | undefined;
  try {
    const configText = readConfig(cwd, signal);
    const localRefs = readLocalRefs(cwd, LOCAL_PREFIXES, signal);
    const remoteRefs = (async () => {
      const opened = await open();
      wire = new UploadPackV2(opened.channel, opened.early, request.onData);
      await wire.capabilities();
      return wire.lsRefs(REMOTE_PREFIXES);
    })();
    for (const p of [configText, localRefs, remoteRefs]) p.catch(() => {}); // awaited below, or moot after a fallback
    const setup = directSetup(request.remote, parseConfigList(await configText), repoFacts(cwd, request.gitDir), request.writeFetchHead);
    if ('fallback' in setup) return { carried: false, why: setup.fallback };
    unpacker = new Unpacker(cwd, setup.fsck, signal);
    const local = await localRefs;
    const isDestination = (ref: string) => setup.refspecs.some((s) => matchPattern(s.dst, ref) !== null);
    const plan = planFetch(setup, await remoteRefs, { tracking: new Map([...local.tracking].filter(([ref]) => isDestination(ref))), tags: local.tags });
    if ('fallback' in plan) return { carried: false, why: plan.fallback };
    if ('upToDate' in plan) return { carried: true, report: '' };
    await receive(wire!, plan.wants, plan.haves, setup, unpacker, request);
    wire!.close();
    await check(cwd, plan.moves, plan.wants, signal);
    await updateRefs(cwd, request.remote, plan.moves, signal);
    return { carried: true, report: fetchReport(request.url, plan.moves) };
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    return { carried: false, why: err instanceof Error ? err.message : String(err) };
  } finally {
    (wire as UploadPackV2 | undefined)?.close();
    unpacker?.abandon();
  }
}

/** The pack, into unpack-objects as it arrives; a pack git fetch would keep as a pack is left to it. */
async function receive(wire: UploadPackV2, wants: string[], haves: string[], setup: DirectSetup, unpacker: Unpacker, request: DirectFetchRequest): Promise<void> {
  let header: Buffer | undefined = Buffer.alloc(0);
  await wire.fetch(wants, haves, {
    data: async (chunk) => {
      if (header) {
        header = Buffer.concat([header, chunk]);
        if (header.length < PACK_HEADER_BYTES) return;
        if (header.toString('latin1', 0, 4) !== 'PACK') throw new Fallback('the server sent something that is not a pack');
        const objects = header.readUInt32BE(8);
        if (objects >= setup.unpackLimit) throw new Fallback(`a pack of ${objects} objects (git fetch keeps it as a pack)`);
        chunk = header;
        header = undefined;
      }
      await unpacker.write(chunk);
    },
    progress: (line) => request.onProgress(`remote: ${line}`),
  });
  if (header) throw new Fallback('the server sent no pack');
  await unpacker.finish();
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
