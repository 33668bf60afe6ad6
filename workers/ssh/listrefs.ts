// Lists the remote's refs over the held connection: `git-upload-pack '<path>'` in an exec channel,
// read its protocol v0 ref advertisement, then a flush packet ends the conversation cleanly (the
// server exits without sending a pack).
//
// v0 rather than v2 `ls-refs`: v0 advertises the refs in the server's first reply, one round trip;
// v2 first advertises capabilities and needs an ls-refs request, two round trips for the same list.

import { OBJECT_ID } from '../../shared/kit/objectid.js';
import { sqQuote } from '../../shared/kit/shell.js';
import type { RefMap } from '../../shared/transport.js';
import type { ChannelQueue } from './channels.js';

/**
 * No sane advertisement is bigger: 32 MiB is ~300k refs with SHA-1 ids (~100 bytes a line). A server
 * sending more is not speaking the protocol. It must stay well below the worker's heap cap
 * (WORKER_RESOURCE_LIMITS in src/supervisor.ts, 256 MiB): the parsed refs take ~1.5 times the
 * advertisement on the heap, and a limit the worker cannot hold is no limit, the worker dies first.
 */
export const MAX_ADVERTISEMENT_BYTES = 32 * 1024 * 1024;
const FLUSH = Buffer.from('0000');

export class RefListError extends Error {
  override name = 'RefListError';
}

export async function listRemoteRefs(queue: ChannelQueue, path: string): Promise<RefMap> {
  const channel = await queue.exec(`git-upload-pack ${sqQuote(path)}`);
  return new Promise<RefMap>((resolve, reject) => {
    const refs: RefMap = new Map();
    let buffer: Buffer = Buffer.alloc(0);
    let total = 0;
    let done = false;
    let stderr = '';
    const finish = (error?: Error) => {
      if (done) return;
      done = true;
      if (error) {
        channel.close();
        reject(error);
        return;
      }
      channel.end(FLUSH); // "no wants": upload-pack exits cleanly
      resolve(refs);
    };
    channel.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < 4096) stderr += chunk.toString('utf8');
    });
    channel.on('error', (err: Error) => finish(err));
    channel.on('data', (chunk: Buffer) => {
      if (done) return;
      total += chunk.length;
      if (total > MAX_ADVERTISEMENT_BYTES) return finish(new RefListError('ref advertisement too large'));
      buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
      for (;;) {
        if (buffer.length < 4) return;
        const lengthText = buffer.toString('latin1', 0, 4);
        if (!/^[0-9a-f]{4}$/.test(lengthText)) return finish(new RefListError(`not a pkt-line: ${JSON.stringify(buffer.toString('latin1', 0, 40))}`));
        const length = parseInt(lengthText, 16);
        if (length === 0) return finish();
        if (length < 4) return finish(new RefListError(`unexpected pkt-line ${lengthText}`));
        if (buffer.length < length) return;
        const payload = buffer.toString('utf8', 4, length);
        buffer = buffer.subarray(length);
        const error = addRef(refs, payload);
        if (error) return finish(error);
      }
    });
    channel.once('close', () => {
      const said = stderr.trim() ? `: ${stderr.trim().split('\n').slice(-3).join(' / ')}` : '';
      finish(new RefListError(`git-upload-pack ended before listing the refs${said}`));
    });
  });
}

function addRef(refs: RefMap, payload: string): RefListError | undefined {
  if (payload.startsWith('ERR ')) return new RefListError(`remote: ${payload.slice(4).trim()}`);
  const line = payload.replace(/\n$/, '');
  const nul = line.indexOf('\0');
  const entry = nul >= 0 ? line.slice(0, nul) : line; // capabilities follow the first ref
  if (entry.startsWith('version ')) return undefined;
  const space = entry.indexOf(' ');
  const sha = entry.slice(0, space);
  const name = entry.slice(space + 1);
  if (space < 0 || !OBJECT_ID.test(sha)) return new RefListError(`bad ref line ${JSON.stringify(line.slice(0, 80))}`);
  if (name.endsWith('^{}')) return undefined; // peeled tags, and an empty repository's `capabilities^{}`
  refs.set(name, sha);
  return undefined;
}
