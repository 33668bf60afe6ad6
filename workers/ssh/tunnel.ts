// Lets `git fetch` ride on the worker's held ssh connection instead of opening its own.
//
// git runs `$GIT_SSH_COMMAND [-o SendEnv=GIT_PROTOCOL] [-p port] user@host 'git-upload-pack '\''/path'\'''`.
// We point GIT_SSH_COMMAND at git-ssh-tunnel.sh (plain sh: a Node helper would cost ~60 ms of
// start-up per fetch), which hands the command to this server over a Unix socket in a private 0700
// directory and relays stdin/stdout; the command runs as an exec channel on the held connection.
// Before ending the stream we leave the exit status (and the remote's stderr) in files the script
// reads, so a failed remote command fails the fetch and its message reaches git's stderr.

import { accessSync, constants as fsConstants } from 'node:fs';
import { chmod, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClientChannel } from 'ssh2';
import type { ChannelQueue } from './channels.js';
import { shellQuote } from '../../shared/kit/shell.js';

/**
 * The helper script. Compiled code runs from dist/workers/ssh/, the script ships in workers/ssh/
 * (package.json `files`), so resolve it from the package root.
 */
export const TUNNEL_SCRIPT = fileURLToPath(new URL('../../../workers/ssh/git-ssh-tunnel.sh', import.meta.url));

const MAGIC = 'grd-tunnel-1';
/** The header is four short NUL-terminated fields; anything longer is not our script talking. */
const MAX_HEADER_BYTES = 64 * 1024;
/** The remote's stderr kept for git (the tail: the last lines say what went wrong). */
const MAX_STDERR_BYTES = 64 * 1024;
/** The standby channel speaks protocol v2, whose first message does not go stale. */
const STANDBY_PROTOCOL = 'version=2';
/** The first pkt-line of a v2 server. */
const V2_GREETING = '000eversion 2\n';
/** What ssh exits with when the connection, not the remote command, failed. */
const SSH_FAILURE = 255;

/** Only the commands git itself runs over ssh, each with one argument quoted the way git quotes. */
const RELAYABLE = /^(?:git-upload-pack|git-receive-pack|git-upload-archive) '(?:[^']|'\\[!']')*'$/;
/** GIT_PROTOCOL is `version=2` (or a colon-separated list of such); nothing that needs quoting. */
const PROTOCOL_VALUE = /^[A-Za-z0-9=:._-]{1,200}$/;

export interface TunnelOptions {
  queue: ChannelQueue;
  /** The host argument git passes for this remote (`user@host` or `host`, as in the URL). */
  userHost: string;
  /** The port git passes with `-p`, or '' when the URL names none. */
  port: string;
  /** The ssh command for anything else (another host): the user's core.sshCommand, or `ssh`. */
  fallbackSsh?: string;
  /**
   * `git-upload-pack '<path>'` as git will send it: one such channel (protocol v2) is kept open
   * ahead of time, so a fetch does not wait for the server to start one (v2's first message holds
   * no refs, so it does not go stale while it waits).
   */
  standbyCommand?: string;
  log(text: string): void;
}

export interface Tunnel {
  /** The private directory holding the socket (removed by close()). */
  readonly dir: string;
  /** Environment for `git fetch` so that its ssh goes through the held connection. */
  readonly env: Record<string, string>;
  /** Commands relayed so far, and how many of them the standby channel served. */
  readonly stats: { relayed: number; fromStandby: number };
  /** True while a started standby channel waits for the next fetch. */
  readonly standbyWaiting: boolean;
  /**
   * An upload-pack speaking protocol v2 on the held connection, for a direct fetch: the standby
   * channel when one waits, else a new one. Rejects when the server does not take GIT_PROTOCOL.
   */
  openUploadPack(): Promise<{ channel: ClientChannel; early: Buffer[] }>;
  /** Stops accepting, ends relayed commands, removes the directory. Idempotent. */
  close(): Promise<void>;
}

export async function startTunnel(options: TunnelOptions): Promise<Tunnel> {
  // A Unix socket path must fit in 108 bytes, and the script hands it to socat inside an address
  // (where `,` `:` `!` are syntax): an unusual TMPDIR falls back to /tmp.
  const base = tmpdir().length <= 60 && /^[\w./-]+$/.test(tmpdir()) ? tmpdir() : '/tmp';
  const dir = await mkdtemp(join(base, 'grd-ssh-'));
  await chmod(dir, 0o700); // mkdtemp already uses 0700; say it, since the socket's safety rests on it
  const relay = new Relay(dir, options);
  try {
    await relay.listen();
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const env: Record<string, string> = {
    GIT_SSH_COMMAND: tunnelCommand(),
    GIT_SSH_VARIANT: 'ssh',
    GIT_REMOTE_DAEMON_TUNNEL: dir,
    GIT_REMOTE_DAEMON_TUNNEL_HOST: options.userHost,
    GIT_REMOTE_DAEMON_TUNNEL_PORT: options.port,
    GIT_REMOTE_DAEMON_FALLBACK_SSH: options.fallbackSsh ?? 'ssh',
  };
  if (options.standbyCommand) relay.keepStandby(options.standbyCommand);
  return {
    dir,
    env,
    stats: relay.stats,
    get standbyWaiting() {
      return relay.standbyWaiting;
    },
    openUploadPack: () => relay.openUploadPack(),
    close: () => relay.close(),
  };
}

/**
 * GIT_SSH_COMMAND for the script. git runs a command with no shell metacharacters directly; with
 * any, through `sh -c` (one more shell start-up per fetch), where `exec` keeps that shell from
 * holding git's stdout open while the script runs (git waits for EOF there when the remote fails).
 */
function tunnelCommand(): string {
  let executable = false;
  try {
    accessSync(TUNNEL_SCRIPT, fsConstants.X_OK);
    executable = true;
  } catch {
    // installed without the executable bit: run it with sh
  }
  return executable && /^[\w./+,:@-]+$/.test(TUNNEL_SCRIPT) ? TUNNEL_SCRIPT : `exec sh ${shellQuote(TUNNEL_SCRIPT)}`;
}

class Relay {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly channels = new Set<ClientChannel>();
  /** Helper pids we left status files for; swept once the helper is gone. */
  private readonly written = new Set<number>();
  private closing: Promise<void> | undefined;
  private standbyCommand: string | undefined;
  private standby: StartedChannel | undefined;
  private standbyOpening = false;
  readonly stats = { relayed: 0, fromStandby: 0 };

  constructor(
    readonly dir: string,
    private readonly options: TunnelOptions,
  ) {
    // Half-open: the helper ends its side when git closes stdin (a push does so before the reply).
    this.server = createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(join(this.dir, 'sock'), () => {
        this.server.off('error', reject);
        this.server.on('error', (err) => this.options.log(`tunnel: ${err.message}`));
        resolve();
      });
    });
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      // server.close() calls back only once every connection is gone: end them first, or a helper
      // still connected (half-open, say) would hold the close, and with it the reconnect, forever.
      const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
      for (const channel of this.channels) channel.close();
      for (const socket of this.sockets) socket.destroy();
      await stopped;
      await rm(this.dir, { recursive: true, force: true });
    })();
    return this.closing;
  }

  get standbyWaiting(): boolean {
    return this.standby?.waiting ?? false;
  }

  /** Keeps one `command` (protocol v2) started ahead of the next fetch that asks for it. */
  keepStandby(command: string): void {
    this.standbyCommand = command;
    this.refillStandby();
  }

  private refillStandby(): void {
    const command = this.standbyCommand;
    // Never let the standby take one of the last two free slots: real requests come first.
    if (!command || this.closing || this.standby || this.standbyOpening || this.options.queue.free < 2) return;
    this.standbyOpening = true;
    this.options.queue.exec(command, { env: { GIT_PROTOCOL: STANDBY_PROTOCOL } }).then(
      (channel) => {
        this.standbyOpening = false;
        if (this.closing) return void channel.close();
        const started = new StartedChannel(channel);
        this.standby = started;
        this.channels.add(channel);
        channel.once('close', () => {
          this.channels.delete(channel);
          if (this.standby === started) this.standby = undefined; // it died unused: next fetch refills
          if (started.spokeV0) {
            this.standbyCommand = undefined;
            this.options.log('tunnel: the server ignores GIT_PROTOCOL (no AcceptEnv); no standby upload-pack');
          }
        });
      },
      () => (this.standbyOpening = false),
    );
  }

  async openUploadPack(): Promise<{ channel: ClientChannel; early: Buffer[] }> {
    const command = this.standbyCommand;
    if (!command || this.closing) throw new Error(this.closing ? 'the connection is closing' : 'the server does not take GIT_PROTOCOL (protocol v2)');
    const standby = this.takeStandby(command, STANDBY_PROTOCOL, false);
    let opened: { channel: ClientChannel; early: Buffer[] };
    if (standby) {
      this.stats.fromStandby++;
      const { channel, stdout } = standby.adopt();
      opened = { channel, early: stdout };
    } else {
      opened = { channel: await this.options.queue.exec(command, { env: { GIT_PROTOCOL: STANDBY_PROTOCOL } }), early: [] };
    }
    const { channel } = opened;
    if (this.closing) {
      channel.close();
      throw new Error('the connection is closing');
    }
    this.channels.add(channel);
    channel.once('close', () => {
      this.channels.delete(channel);
      // The next standby starts once this fetch is over: its start-up (a session, a shell, an
      // upload-pack on the server) would otherwise compete with the fetch it is not needed for.
      this.refillStandby();
    });
    return opened;
  }

  /** The standby channel, if it matches the request and is still waiting for one. */
  private takeStandby(command: string, protocol: string, refill = true): StartedChannel | undefined {
    if (command !== this.standbyCommand) return undefined;
    const standby = protocol === STANDBY_PROTOCOL && this.standby?.waiting ? this.standby : undefined;
    if (standby) this.standby = undefined;
    if (refill) setImmediate(() => this.refillStandby()); // after this request has taken its own slot
    return standby;
  }

  private accept(socket: Socket): void {
    if (this.closing) return void socket.destroy();
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => {}); // the helper went away; 'close' follows
    this.sweep();
    let header: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      header = header.length ? Buffer.concat([header, chunk]) : chunk;
      const fields = splitHeader(header);
      if (!fields) {
        if (header.length > MAX_HEADER_BYTES) socket.destroy();
        return;
      }
      socket.off('data', onData);
      socket.pause();
      void this.run(socket, fields.values, header.subarray(fields.end));
    };
    socket.on('data', onData);
  }

  private async run(socket: Socket, [magic, pidText, protocol, command]: string[], rest: Buffer): Promise<void> {
    const pid = /^[1-9]\d{0,9}$/.test(pidText ?? '') ? Number(pidText) : undefined;
    if (magic !== MAGIC || pid === undefined) return void socket.destroy();
    if (!command || !RELAYABLE.test(command)) {
      this.options.log(`tunnel: refused to relay ${JSON.stringify(command?.slice(0, 200))}`);
      return this.finish(socket, pid, 1, Buffer.from(`git-remote-daemon: refusing to relay ${JSON.stringify(command?.slice(0, 200))}: not a git transport command\n`));
    }
    const env = protocol && PROTOCOL_VALUE.test(protocol) ? { GIT_PROTOCOL: protocol } : undefined;
    const stderr = new TailBuffer(MAX_STDERR_BYTES);
    let early: Buffer[] = [];
    let channel: ClientChannel;
    const standby = this.takeStandby(command, protocol);
    this.stats.relayed++;
    if (standby) {
      this.stats.fromStandby++;
      ({ channel, stdout: early } = standby.adopt());
      for (const chunk of standby.stderr) stderr.push(chunk);
    } else {
      try {
        channel = await this.options.queue.exec(command, { env });
      } catch (err) {
        return this.finish(socket, pid, SSH_FAILURE, Buffer.from(`git-remote-daemon: ssh connection: ${(err as Error).message}\n`));
      }
    }
    if (socket.destroyed || this.closing) return void channel.close();
    this.channels.add(channel);
    let status = SSH_FAILURE;
    channel.on('exit', (code: number | null, signal?: string) => {
      status = typeof code === 'number' ? code : SSH_FAILURE;
      if (signal) stderr.push(Buffer.from(`git-remote-daemon: remote command killed by signal ${signal}\n`));
    });
    channel.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    channel.on('error', (err: Error) => stderr.push(Buffer.from(`git-remote-daemon: ${err.message}\n`)));
    channel.once('close', () => {
      this.channels.delete(channel);
      void this.finish(socket, pid, status, stderr.take());
    });
    for (const chunk of early) socket.write(chunk); // what the standby said before it was taken
    // git's stdin -> the command; its EOF (socat's half-close) becomes the channel's EOF.
    if (rest.length) channel.write(rest);
    socket.pipe(channel);
    channel.pipe(socket, { end: false });
    socket.once('close', () => channel.close()); // git gave up: stop the remote command too
    socket.resume();
  }

  /** Leaves the status (and stderr) where the helper looks, then ends its stream. */
  private async finish(socket: Socket, pid: number, status: number, stderr: Buffer): Promise<void> {
    if (socket.destroyed) return;
    try {
      this.written.add(pid);
      if (stderr.length) await writeFile(join(this.dir, `${pid}.stderr`), stderr, { mode: 0o600 });
      await writeFile(join(this.dir, `${pid}.status`), `${status}\n`, { mode: 0o600 });
    } catch (err) {
      this.options.log(`tunnel: could not leave the exit status: ${(err as Error).message}`);
    }
    socket.end();
  }

  /** Removes the files of helpers that have exited (each helper reads them just before it exits). */
  private sweep(): void {
    for (const pid of this.written) {
      if (isAlive(pid)) continue;
      this.written.delete(pid);
      for (const name of [`${pid}.status`, `${pid}.stderr`]) unlink(join(this.dir, name)).catch(() => {});
    }
  }
}

/**
 * A channel started before anyone asked for it: keeps what it says until adopt(). It is still
 * `waiting` while the command runs and has not ended its output.
 */
class StartedChannel {
  readonly stdout: Buffer[] = [];
  readonly stderr: Buffer[] = [];
  private over = false;
  private readonly onStdout = (chunk: Buffer) => this.keep(this.stdout, chunk);
  private readonly onStderr = (chunk: Buffer) => this.keep(this.stderr, chunk);
  private readonly onOver = () => (this.over = true);

  constructor(readonly channel: ClientChannel) {
    channel.on('data', this.onStdout);
    channel.stderr.on('data', this.onStderr);
    for (const event of ['end', 'exit', 'close', 'error']) channel.once(event, this.onOver);
  }

  get waiting(): boolean {
    return !this.over;
  }

  /** Hands the channel over with what it said so far; the caller attaches its own listeners. */
  adopt(): { channel: ClientChannel; stdout: Buffer[] } {
    this.channel.off('data', this.onStdout);
    this.channel.stderr.off('data', this.onStderr);
    for (const event of ['end', 'exit', 'close', 'error']) this.channel.off(event, this.onOver);
    return { channel: this.channel, stdout: this.stdout };
  }

  /** True once the server answered in protocol v0 (it does not AcceptEnv GIT_PROTOCOL). */
  spokeV0 = false;

  private keep(into: Buffer[], chunk: Buffer): void {
    into.push(chunk);
    // A v0 advertisement lists the refs as they were when it started: it would go stale waiting.
    if (into === this.stdout && this.stdout.length === 1 && !chunk.toString('latin1', 0, V2_GREETING.length).startsWith(V2_GREETING.slice(0, chunk.length))) {
      this.spokeV0 = true;
    }
    // v2's capability advertisement is a few hundred bytes; more means it is not waiting for us.
    if (this.spokeV0 || this.stdout.length + this.stderr.length > 64) {
      this.over = true;
      this.channel.close();
    }
  }
}

/** Splits `grd-tunnel-1\0pid\0protocol\0command\0`; undefined until all four fields are in. */
function splitHeader(buffer: Buffer): { values: string[]; end: number } | undefined {
  const values: string[] = [];
  let start = 0;
  for (let i = 0; i < 4; i++) {
    const nul = buffer.indexOf(0, start);
    if (nul < 0) return undefined;
    values.push(buffer.toString('utf8', start, nul));
    start = nul + 1;
  }
  return { values, end: start };
}

/** Keeps the last `limit` bytes pushed into it. */
class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly limit: number) {}
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size - this.chunks[0]!.length >= this.limit) this.size -= this.chunks.shift()!.length;
  }
  take(): Buffer {
    const all = Buffer.concat(this.chunks);
    return all.length > this.limit ? all.subarray(all.length - this.limit) : all;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
