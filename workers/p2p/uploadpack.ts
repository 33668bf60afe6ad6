// Serving one git session to an authorised peer: `git upload-pack` and nothing else, protocol v0,
// strict about the path, ended when idle, and held to what the peer is shown (shown.ts) by the
// guard (guard.ts) on both its advertisement and the peer's request. Protocol v0 because v2's
// upload-pack serves any object a peer names ("wants can be anything"); a peer that asks for v2
// (git-remote-p2p always does) gets v0, which git reads from the first line of the answer.
// The peer's bytes go to upload-pack's stdin through the guard (git parses them); its output goes
// back under the pipe's flow control, so a slow reader holds upload-pack back instead of filling
// our memory. The upload-pack may have been started before its session came (node.ts starts one
// when it offers a peer a change): what it advertises is the refs when it started.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { Transform } from 'node:stream';
import { advertisementFilter, Refused, requestFilter } from './guard.js';
import type { ChannelStream } from './channelstream.js';
import { mark, timing } from '../timing.js';
import { reachableFrom, type ShownRefs } from './shown.js';

/** Seconds of silence after which upload-pack gives up (its own --timeout). */
const IDLE_TIMEOUT_S = 60;
/** Enough of upload-pack's stderr to say what went wrong. */
const MAX_STDERR = 4096;

export const UPLOAD_PACK_ARGS = [
  // A first fence, by name: only branches and tags (HEAD is decided by the guard).
  '-c', 'uploadpack.hideRefs=refs',
  '-c', 'uploadpack.hideRefs=!refs/heads',
  '-c', 'uploadpack.hideRefs=!refs/tags',
  // Whatever this repository's config says for other clients: wants are advertised tips only, and
  // no filters (`sparse:oid=<id>` reads any blob named by id).
  '-c', 'uploadpack.allowTipSHA1InWant=false',
  '-c', 'uploadpack.allowReachableSHA1InWant=false',
  '-c', 'uploadpack.allowAnySHA1InWant=false',
  '-c', 'uploadpack.allowFilter=false',
  'upload-pack', '--strict', `--timeout=${IDLE_TIMEOUT_S}`,
];

/**
 * A `git upload-pack` of ours, started. v0 advertises the refs as they are when it starts, so one
 * may start before its session comes (when we offer a peer a change: the fetch the offer causes
 * finds it advertising already), never before the change it is for.
 */
export interface StartedUploadPack {
  child: ChildProcessWithoutNullStreams;
  /** What it said on stderr so far (bounded). */
  stderr(): string;
  /** It could not be started (spawn's error), if so. */
  failed(): Error | undefined;
}

export function startUploadPack(gitDir: string): StartedUploadPack {
  const env = { ...process.env };
  delete env.GIT_PROTOCOL; // v0: see above
  const child = spawn('git', [...UPLOAD_PACK_ARGS, gitDir], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  let error: Error | undefined;
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < MAX_STDERR) stderr += d.slice(0, MAX_STDERR - stderr.length);
  });
  child.stdin.on('error', () => {}); // upload-pack may be done reading before the peer is done writing
  child.on('error', (err) => (error = err)); // said by whoever serves it (an unclaimed one: nobody)
  return { child, stderr: () => stderr, failed: () => error };
}

/** Still worth handing a session: running, and not ended or failed. */
export function usable({ child }: StartedUploadPack): boolean {
  return child.exitCode === null && child.signalCode === null && !child.killed && child.pid !== undefined;
}

/** Serves `pipe` with `started` (one started ahead for this peer, unused) or a new upload-pack. */
export function serveUploadPack(pipe: ChannelStream, gitDir: string, shownRefs: ShownRefs, log: (text: string) => void, started = startUploadPack(gitDir)): Promise<void> {
  const { child } = started;
  const { filter: advertised, shown } = advertisementFilter((listing, head) => shownRefs.decide(listing, head));
  const request = requestFilter(shown, { reachable: (ids, tips) => reachableFrom(gitDir, ids, tips), log });
  let refused: string | undefined;
  const failed = (stream: Transform, what: string) =>
    stream.on('error', (err: Error) => {
      refused ??= err.message;
      if (err instanceof Refused) {
        log(`refused a request from a peer: ${err.message}`);
        // git prints an ERR line as "remote error: ..." and stops.
        const text = Buffer.from(`ERR upload-pack: ${err.message}\n`);
        advertised.unpipe(pipe);
        if (!pipe.destroyed) pipe.end(Buffer.concat([Buffer.from((text.length + 4).toString(16).padStart(4, '0')), text]));
      } else {
        log(`ended a peer's git session: ${what}: ${err.message}`);
        pipe.destroy();
      }
      child.kill();
    });
  failed(request, 'its request');
  failed(advertised, 'upload-pack');
  pipe.pipe(request).pipe(child.stdin);
  child.stdout.pipe(advertised).pipe(pipe);
  if (timing) {
    // Added after the pipes: they see the same chunks and change no flow.
    child.stdout.once('data', () => mark('upload-pack-first-byte'));
    advertised.once('data', () => mark('advertised'));
    request.once('data', () => mark('request-heard'));
  }
  // The peer went away or is done (ls-remote hangs up after the listing): not worth a log line.
  let hungUp = false;
  const hangUp = () => {
    if (child.exitCode !== null) return;
    hungUp = true;
    child.kill();
  };
  pipe.on('error', hangUp);
  pipe.on('close', hangUp);
  return new Promise((resolve) => {
    const cannotRun = (err: Error) => {
      log(`cannot run git upload-pack: ${err.message}`);
      pipe.destroy();
      resolve();
    };
    const spawnError = started.failed();
    if (spawnError) return cannotRun(spawnError);
    child.on('error', cannotRun);
    child.on('close', (code, signal) => {
      mark('upload-pack-exit');
      if (code === 0 || hungUp || refused) return resolve();
      const stderr = started.stderr().trim();
      log(`git upload-pack ended with ${signal ?? code}${stderr ? `: ${stderr}` : ''}`);
      resolve();
    });
  });
}
