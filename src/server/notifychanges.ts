// `git-remote-daemon notifychanges [<repo>]`: the server end of the notifier wire protocol
// (docs/server.md). Prints READY once it watches the repository's refs, then one CHANGED line per
// batch of ref updates, and exits as soon as the client is gone. A thin layer over the ref watcher.
//
// Over ssh without a pty a closed channel does not kill the remote command, it only closes the
// command's stdin; so stdin EOF is the main signal to leave, or notifiers would pile up on the
// server. A write that fails (EPIPE) and SIGHUP/SIGTERM/SIGINT/SIGPIPE end it too.
//
// Each `PING` line on stdin is answered `PONG` once READY has been said (docs/protocol.md): the
// client's proof that this notifier still runs and still writes. Anything else on stdin is ignored,
// as git-annex-shell ignores it, and read with a small bound so a client cannot make us hold much.

import { constants as osConstants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { watchRefs, type RefWatcher } from '../../shared/refs/watcher.js';
import { BoundedLines } from '../../shared/kit/lines.js';
import { formatChanged, formatReady, isPing, MAX_REQUEST_LINE_BYTES, PONG_LINE } from '../../shared/notifywire.js';
import { findRepository, RepoPathError } from './repopath.js';

export interface NotifierIO {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
}

export interface NotifierOptions {
  /** Coalescing window handed to the ref watcher (its default when unset: 20 ms). */
  windowMs?: number;
  /** Streams to use instead of the process's own (tests run the notifier in-process). */
  io?: NotifierIO;
}

const PROGRAM = 'git-remote-daemon notifychanges';
const STOP_SIGNALS = ['SIGHUP', 'SIGTERM', 'SIGINT', 'SIGPIPE'] as const;

/** Runs the notifier until the client goes away; resolves to the process exit code. */
export async function runNotifyChanges(repo: string | undefined, options: NotifierOptions = {}): Promise<number> {
  const io = options.io ?? { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
  const complain = (text: string) => io.stderr.write(`${PROGRAM}: ${text}\n`);

  // Listen for the end before anything slow: a client that hangs up during start-up must not
  // leave us watching forever.
  const session = new Session();
  const stopListening = listen(io, session);

  let watcher: RefWatcher | undefined;
  let failed = false;
  try {
    watcher = await watchAndSayReady(repo, options, io, session, complain);
  } catch (err) {
    complain(err instanceof RepoPathError ? err.message : `cannot watch: ${(err as Error).message}`);
    failed = true;
    session.end(1);
  }

  const code = failed ? 1 : await session.finished;
  watcher?.close();
  stopListening();
  return code;
}

/** One client's session: READY said yet, over yet, and with what exit code (the first end wins). */
class Session {
  ready = false;
  done = false;
  readonly finished: Promise<number>;
  private finish!: (code: number) => void;

  constructor() {
    this.finished = new Promise<number>((resolve) => (this.finish = resolve));
  }

  end(code: number): void {
    if (!this.done) {
      this.done = true;
      this.finish(code);
    }
  }
}

/**
 * Ends the session on stdin's end, a failed write or a stop signal, and answers PING on stdin;
 * returns what stops all that again.
 */
function listen(io: NotifierIO, session: Session): () => void {
  const onStdinEnd = () => session.end(0);
  const onStdoutError = () => session.end(0); // EPIPE: the reader is gone, which is how a session ends
  const signalHandlers = STOP_SIGNALS.map((name) => {
    const handler = () => session.end(128 + osConstants.signals[name]);
    process.on(name, handler);
    return [name, handler] as const;
  });
  const requests = new BoundedLines(
    {
      line(line) {
        if (session.ready && !session.done && isPing(line)) io.stdout.write(PONG_LINE);
      },
      overlong() {},
    },
    MAX_REQUEST_LINE_BYTES,
  );
  const onStdinData = (chunk: Buffer | string) => requests.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  io.stdin.on('data', onStdinData);
  io.stdin.once('end', onStdinEnd);
  io.stdin.once('close', onStdinEnd);
  io.stdin.once('error', onStdinEnd);
  io.stdout.on('error', onStdoutError);
  io.stdin.resume();

  return () => {
    for (const [name, handler] of signalHandlers) process.off(name, handler);
    io.stdin.off('data', onStdinData);
    io.stdin.off('end', onStdinEnd);
    io.stdin.off('close', onStdinEnd);
    io.stdin.off('error', onStdinEnd);
    io.stdin.pause();
    // Release stdin so that nothing keeps the event loop (and so the process) alive.
    if (io.stdin === process.stdin) io.stdin.destroy();
  };
}

/** Watches the repository's refs and says READY, unless the client left meanwhile; throws when it cannot. */
async function watchAndSayReady(
  repo: string | undefined,
  options: NotifierOptions,
  io: NotifierIO,
  session: Session,
  complain: (text: string) => void,
): Promise<RefWatcher | undefined> {
  // A bad path is reported even when the client has already hung up: that is an error, not a
  // normal end, and the exit code should say so.
  const repository = await findRepository(repo);
  if (session.done) return undefined;
  const watcher = await watchRefs({
    gitDir: repository.commonDir,
    windowMs: options.windowMs,
    onChange(changes) {
      // One write per line, each at most PIPE_BUF bytes: atomic on a pipe, never torn.
      for (const line of formatChanged(changes.values())) if (!session.done) io.stdout.write(line);
    },
    onError(err) {
      complain(`stopped watching: ${err.message}`);
      session.end(1);
    },
  });
  if (session.done) watcher.close();
  else {
    io.stdout.write(formatReady());
    session.ready = true;
  }
  return watcher;
}
