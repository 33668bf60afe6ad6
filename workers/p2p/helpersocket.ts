// The peer node's socket for `git-remote-p2p`, so that a fetch goes over a link the node already
// holds instead of dialling its own: a unix socket in the repository's
// `remote-daemon/` directory (0700: only this user reaches it). The helper writes one JSON line
// naming the peer, the node answers `ok` and the socket becomes that git session's byte stream,
// or answers `error <why>` and closes. A request with `"answer":"git"` (the thin helper the
// daemon's own fetches run, held/git-remote-p2p, which relays git's bytes as they are) is answered
// as git expects the answer to `connect`: an empty line when the session is open, else one line
// saying why not (git fails on it, printing it).

import { unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { fingerprint } from './address.js';
import type { FromNode } from './nodeapi.js';
import type { ChannelStream } from './channelstream.js';
import { mark } from '../timing.js';

/**
 * Opens a session with `peer`; `over` settles once it is over on both sides: the peer ended it and
 * the helper (git fetch, or the daemon's direct fetch, which ends it only after its refs moved)
 * closed its socket.
 */
export type OpenSession = (peer: string, v2: boolean, over: Promise<void>) => Promise<ChannelStream>;

const MAX_REQUEST = 4096;
/** A helper that connects and says nothing is not worth a socket for longer than this. */
const REQUEST_TIMEOUT_MS = 10_000;

/** Listens at `path` for helpers' requests; undefined (and a condition said) when it cannot. */
export async function listenForHelpers(
  path: string,
  open: OpenSession,
  say: (m: FromNode) => void,
): Promise<Server | undefined> {
  try {
    unlinkSync(path);
  } catch {
    // none left over
  }
  // Half-open: git closes its side once it has asked; the answer must still come back.
  const server = createServer({ allowHalfOpen: true }, (socket) => request(socket, open, say));
  return new Promise((resolve) => {
    server.once('error', (err) => {
      say({ type: 'condition', kind: 'socket', text: `git fetch cannot use the held links (${err.message}); it connects on its own` });
      resolve(undefined);
    });
    server.listen(path, () => resolve(server));
  });
}

function request(socket: Socket, open: OpenSession, say: (m: FromNode) => void): void {
  socket.on('error', () => {});
  socket.setTimeout(REQUEST_TIMEOUT_MS, () => socket.destroy());
  let header = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    header = Buffer.concat([header, chunk]);
    const nl = header.indexOf(10);
    if (nl < 0) {
      if (header.length > MAX_REQUEST) socket.destroy();
      return;
    }
    mark('socket-request');
    socket.off('data', onData);
    socket.pause();
    const rest = header.subarray(nl + 1);
    if (rest.length) socket.unshift(rest);
    void openSessionFor(socket, header.subarray(0, nl).toString('utf8'), open, say);
  };
  socket.on('data', onData);
}

/** Opens the session the request line asks for and joins it to the helper's socket, or says why not. */
async function openSessionFor(socket: Socket, line: string, open: OpenSession, say: (m: FromNode) => void): Promise<void> {
  let pipe: ChannelStream;
  let peer: string;
  let forGit = false;
  let pipeOver!: () => void;
  const over = Promise.all([new Promise<void>((resolve) => (pipeOver = resolve)), new Promise<void>((resolve) => socket.once('close', () => resolve()))]).then(() => {});
  try {
    const request = JSON.parse(line) as { peer?: unknown; v2?: unknown; answer?: unknown };
    forGit = request.answer === 'git';
    if (typeof request.peer !== 'string' || !/^[0-9a-f]{64}$/.test(request.peer)) throw new Error('bad request');
    peer = request.peer;
    pipe = await open(peer, request.v2 === true, over);
  } catch (err) {
    const why = (err as Error).message.replace(/[\r\n]+/g, ' ');
    socket.end(forGit ? `git-remote-p2p: no session with the peer: ${why}\n` : `error ${why}\n`);
    return;
  }
  socket.setTimeout(0);
  socket.write(forGit ? '\n' : 'ok\n');
  say({ type: 'log', text: `git fetch goes over the held link to ${fingerprint(peer)}` });
  socket.pipe(pipe);
  pipe.pipe(socket);
  pipe.on('error', () => {}); // its reason is read on close
  const closed = () => {
    pipeOver();
    if (pipe.reason) say({ type: 'log', text: `git session to ${fingerprint(peer)} failed: ${pipe.reason}` });
    socket.end(); // a short stream for the helper, which git reports
  };
  // The peer may have refused it in the same breath as accepting it: closed before we looked.
  if (pipe.closed) closed();
  else pipe.on('close', closed);
  socket.on('close', () => pipe.destroy());
  socket.resume();
}
