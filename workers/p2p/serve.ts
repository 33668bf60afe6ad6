// Serving one git session to an authorised peer: `git upload-pack` and nothing else, showing only
// branches, tags and HEAD, strict about the path, and ended when idle. The peer's bytes go to
// upload-pack's stdin as they come (git parses them); its output goes back under the pipe's flow
// control, so a slow reader holds upload-pack back instead of filling our memory.

import { spawn } from 'node:child_process';
import type { ChannelPipe } from './pipe.js';
import type { SessionRequest } from './wire.js';

/** Seconds of silence after which upload-pack gives up (its own --timeout). */
const IDLE_TIMEOUT_S = 60;
/** Enough of upload-pack's stderr to say what went wrong. */
const MAX_STDERR = 4096;

export const UPLOAD_PACK_ARGS = [
  '-c', 'uploadpack.hideRefs=refs',
  '-c', 'uploadpack.hideRefs=!refs/heads',
  '-c', 'uploadpack.hideRefs=!refs/tags',
  'upload-pack', '--strict', `--timeout=${IDLE_TIMEOUT_S}`,
];

export function serveUploadPack(pipe: ChannelPipe, gitDir: string, request: SessionRequest, log: (text: string) => void): Promise<void> {
  const env = { ...process.env };
  delete env.GIT_PROTOCOL;
  if (request.v2) env.GIT_PROTOCOL = 'version=2';
  const child = spawn('git', [...UPLOAD_PACK_ARGS, gitDir], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < MAX_STDERR) stderr += d.slice(0, MAX_STDERR - stderr.length);
  });
  child.stdin.on('error', () => {}); // upload-pack may be done reading before the peer is done writing
  pipe.pipe(child.stdin);
  child.stdout.pipe(pipe);
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
    child.on('error', (err) => {
      log(`cannot run git upload-pack: ${err.message}`);
      pipe.destroy();
      resolve();
    });
    child.on('close', (code, signal) => {
      if (code === 0 || hungUp) return resolve();
      log(`git upload-pack ended with ${signal ?? code}${stderr.trim() ? `: ${stderr.trim()}` : ''}`);
      resolve();
    });
  });
}
