// A git session with a peer over the link our node holds, for the daemon's direct fetch
// (workers/direct/): the same request the thin helper makes on the node's socket
// (helpersocket.ts), answered `ok` (the socket is then the peer's upload-pack, protocol v0) or
// `error <why>`. The node's warm session, started ahead, serves it when there is one.

import { connect, type Socket } from 'node:net';
import type { OpenedUploadPack } from '../direct/fetch.js';
import type { WireChannel } from '../direct/protocol.js';

/** The node's answer is one short line; anything longer is not our node talking. */
const MAX_ANSWER = 4096;
const ANSWER_TIMEOUT_MS = 30_000;

export function openHeldSession(socketPath: string, peer: string, timeoutMs = ANSWER_TIMEOUT_MS): Promise<OpenedUploadPack> {
  return new Promise((resolve, reject) => {
    // Half-open: when the peer's upload-pack is done, our side stays open until the refs moved, so
    // that the node judges what the session brought only then (helpersocket.ts, `over`).
    const socket = connect({ path: socketPath, allowHalfOpen: true });
    let answer: Buffer = Buffer.alloc(0);
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    const timer = setTimeout(() => fail(new Error(`the peer node did not answer within ${timeoutMs / 1000} s`)), timeoutMs);
    socket.on('error', (err) => fail(new Error(`the peer node's socket: ${err.message}`)));
    // Half-open, the node's end of the socket is 'end' (its 'close' waits for ours).
    for (const event of ['end', 'close']) socket.once(event, () => fail(new Error('the peer node closed its socket without a session')));
    socket.once('connect', () => socket.write(`${JSON.stringify({ peer, v2: true })}\n`));
    const onData = (chunk: Buffer) => {
      answer = Buffer.concat([answer, chunk]);
      const nl = answer.indexOf(10);
      if (nl < 0) return void (answer.length > MAX_ANSWER && fail(new Error('the peer node answered with no end of line')));
      socket.off('data', onData);
      socket.pause();
      const line = answer.subarray(0, nl).toString('utf8');
      if (line !== 'ok') return fail(new Error(line.startsWith('error ') ? line.slice('error '.length, 300) : `the peer node answered ${JSON.stringify(line.slice(0, 80))}`));
      settled = true;
      clearTimeout(timer);
      const rest = answer.subarray(nl + 1);
      resolve({ channel: asChannel(socket), early: rest.length ? [rest] : [], version: 0 });
    };
    socket.on('data', onData);
  });
}

function asChannel(socket: Socket): WireChannel {
  socket.on('error', () => {}); // its close follows, which ends the session
  return {
    write: (data) => socket.write(data),
    on: (_event, fn) => {
      socket.on('data', fn);
      socket.resume();
    },
    // Half-open, the peer's end of the session is 'end', not 'close': either ends what we read.
    once: (_event, fn) => {
      let called = false;
      const once = () => !called && ((called = true), fn());
      socket.once('end', once);
      socket.once('close', once);
    },
    pause: () => socket.pause(),
    resume: () => socket.resume(),
    close: () => socket.destroy(),
  };
}
