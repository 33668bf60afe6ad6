// One fetch without `git fetch`: over an upload-pack the transport already holds (ssh: the
// tunnel's standby channel, protocol v2; a peer: a session on the link its node holds, protocol
// v0), the protocol spoken in this thread, the pack into one shell script that runs git fetch's own
// steps for it (store.ts). It saves the `git fetch` process, its ssh helper or peer helper and the
// relay hop: on a one-commit change over ssh, about half the time from push to moved refs of a
// plain git fetch over ControlMaster (README, Benchmarks: `node dist/bench/ssh.js latency`).
//
// Whenever git fetch could do something this does not (plan.ts), or anything goes wrong before a
// ref moved (the server breaks the protocol, the pack does not unpack or leaves objects missing,
// a branch was rewritten), the answer is `fallback` and the daemon runs `git fetch` as always,
// which then does what it would have done, with git's own words. Only a stop, a cancel or a stall
// ends a direct fetch for good.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { commonDirOf } from '../../shared/kit/gitdir.js';
import type { DirectFetchRequest, DirectFetchResult } from '../../shared/transport.js';
import { isDestination, planFetch, refPrefixesOf, repoFallback, type DirectSetup, type Fallback, type RepoFacts } from './plan.js';
import { UploadPackV0, UploadPackV2, type UploadPack, type WireChannel } from './protocol.js';
import { readLocalRefs } from './localrefs.js';
import { fetchReport, Store } from './store.js';
import { mark } from '../timing.js'; // the bench's stage marks: nothing unless it runs

/** A channel to an upload-pack, what it said before it was handed over, and its protocol (v2 unless said). */
export interface OpenedUploadPack {
  channel: WireChannel;
  early: Buffer[];
  version?: 0 | 2;
}

/** Ends a direct fetch in favour of `git fetch`; nothing of ours moved. */
class GiveWay extends Error {
  override name = 'GiveWay';
}

const PACK_HEADER_BYTES = 12;

export function repoFacts(cwd: string, commonDir: string): RepoFacts {
  return {
    shallow: existsSync(join(commonDir, 'shallow')),
    alternates: existsSync(join(commonDir, 'objects', 'info', 'alternates')) || !!process.env.GIT_ALTERNATE_OBJECT_DIRECTORIES,
    submodules: existsSync(join(cwd, '.gitmodules')) || existsSync(join(commonDir, 'modules')),
  };
}

/**
 * Carries out `request` with the remote's `settings` (its plugin read them from the config) over
 * what `open` gives, or says why git fetch must. The local refs are read from their files while
 * the ref list comes, and the pack request goes out before the one script that stores the pack is
 * forked: a fork holds this thread, and the server makes the pack meanwhile.
 */
export async function directFetch(request: DirectFetchRequest, settings: DirectSetup | Fallback | undefined, open: () => Promise<OpenedUploadPack>): Promise<DirectFetchResult> {
  const { cwd, signal } = request;
  const commonDir = commonDirOf(request.gitDir);
  const setup = repoFallback(repoFacts(cwd, commonDir), request.writeFetchHead) ?? settings ?? { fallback: 'no settings for a direct fetch' };
  if ('fallback' in setup) return { carried: false, why: setup.fallback };
  let wire: UploadPack | undefined;
  let store: Store | undefined;
  try {
    mark('direct-begin');
    const opened = await open();
    mark('direct-opened');
    wire = opened.version === 0 ? new UploadPackV0(opened.channel, opened.early, request.onData) : new UploadPackV2(opened.channel, opened.early, request.onData);
    const listing = wire.refs(refPrefixesOf(setup));
    listing.catch(() => {}); // awaited below unless reading ours failed first
    const local = readLocalRefs(commonDir, destinationPrefixes(setup)); // while the list comes
    const refs = await listing;
    mark('direct-listed');
    const plan = planFetch(setup, refs, { tracking: new Map([...local.tracking].filter(([ref]) => isDestination(setup, ref))), tags: local.tags });
    if ('fallback' in plan || 'upToDate' in plan) {
      if (wire instanceof UploadPackV0) wire.nothing(); // ends a v0 session cleanly: no wants
      return 'fallback' in plan ? { carried: false, why: plan.fallback } : { carried: true, report: '' };
    }
    // The request goes out before the script starts: forking holds this thread for a while, and
    // the server meanwhile makes the pack. The pack waits in the channel until the script is there.
    const sink: { store?: Store } = {};
    const receiving = receive(wire, plan.wants, plan.haves, setup, sink, request);
    receiving.catch(() => {});
    store = sink.store = new Store(cwd, request.remote, setup.fsck, signal);
    mark('direct-store-forked');
    store.plan(plan.wants, plan.moves);
    await receiving;
    mark('direct-received');
    // The session stays open until the refs moved: a peer's node judges, when it ends, whether
    // the fetch brought what the peer offered (workers/p2p/offers.ts).
    const stored = await store.finish();
    mark('direct-stored');
    if (!stored.ok) return { carried: false, why: stored.why };
    return { carried: true, report: fetchReport(request.url, plan.moves) };
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    return { carried: false, why: err instanceof Error ? err.message : String(err) };
  } finally {
    wire?.close();
    store?.abandon();
  }
}

/** Where the refspecs store: the local refs a fetch reads and moves. */
function destinationPrefixes(setup: DirectSetup): string[] {
  return [...new Set(setup.refspecs.map((s) => (s.dst.includes('*') ? s.dst.slice(0, s.dst.indexOf('*')) : s.dst)))];
}

/** The pack, into unpack-objects as it arrives; a pack git fetch would keep as a pack is left to it. */
async function receive(wire: UploadPack, wants: string[], haves: string[], setup: DirectSetup, sink: { store?: Store }, request: DirectFetchRequest): Promise<void> {
  let header: Buffer | undefined = Buffer.alloc(0);
  await wire.fetch(wants, haves, {
    data: async (chunk) => {
      if (header) {
        header = Buffer.concat([header, chunk]);
        if (header.length < PACK_HEADER_BYTES) return;
        if (header.toString('latin1', 0, 4) !== 'PACK') throw new GiveWay('the server sent something that is not a pack');
        const objects = header.readUInt32BE(8);
        if (objects >= setup.unpackLimit) throw new GiveWay(`a pack of ${objects} objects (git fetch keeps it as a pack)`);
        chunk = header;
        header = undefined;
      }
      await sink.store!.write(chunk);
    },
    progress: (line) => request.onProgress(`remote: ${line}`),
  });
  if (header) throw new GiveWay('the server sent no pack');
}

