// Opt-in Prometheus metrics, as a file for node_exporter's textfile collector
// (`git config remotedaemon.metricsFile /var/lib/node_exporter/textfile/<name>.prom`).
//
// The exposition format is written here by hand: it is a few lines of text, and the textfile
// collector wants exactly that in a file, replaced atomically. prom-client (the standard library)
// is built around an in-process registry scraped over HTTP; it would add a dependency and still
// leave the atomic file write to us.
//
// The counts come from the messages the protocol gate emits (never from printed lines read back):
// a CONNECTED after a first one is a reconnect, a DONESYNCING a fetch. Worker restarts are told
// by the coordinator as they happen (`restarted`): its WARNING is a condition, said once however
// often the worker fails again.

import { randomBytes } from 'node:crypto';
import { closeSync, constants, lstatSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import type { Emitted } from '../protocol.js';

interface Counts {
  connected: boolean;
  everConnected: boolean;
  fetchesOk: number;
  fetchesFailed: number;
  /** Seconds since the epoch of the last fetch that succeeded. */
  lastOk?: number;
  reconnects: number;
  restarts: number;
}

const PREFIX = 'git_remote_daemon_';

export class Metrics {
  private readonly counts = new Map<string, Counts>();
  /** The remotes configured now: only these are exported. */
  private current: string[] = [];

  constructor(private readonly repository: string) {}

  /** The remotes the daemon acts on, as of the last config read. */
  setRemotes(names: string[]): void {
    this.current = names;
  }

  /** Counts one emitted message; true when it changed a metric. */
  observe(message: Emitted, now = Date.now()): boolean {
    const c = this.of(message.remote);
    switch (message.type) {
      case 'CONNECTED':
        if (c.everConnected) c.reconnects++;
        c.everConnected = true;
        c.connected = true;
        return true;
      case 'DISCONNECTED':
        c.connected = false;
        return true;
      case 'DONESYNCING':
        if (message.ok) {
          c.fetchesOk++;
          c.lastOk = Math.floor(now / 1000);
        } else c.fetchesFailed++;
        return true;
      default:
        return false;
    }
  }

  /** The remote's worker failed and is being restarted. */
  restarted(remote: string): void {
    this.of(remote).restarts++;
  }

  private of(remote: string): Counts {
    let c = this.counts.get(remote);
    if (!c) this.counts.set(remote, (c = { connected: false, everConnected: false, fetchesOk: 0, fetchesFailed: 0, reconnects: 0, restarts: 0 }));
    return c;
  }

  /** The whole file, in the Prometheus text exposition format (version 0.0.4). */
  render(): string {
    const out: string[] = [];
    const family = (name: string, type: 'gauge' | 'counter', help: string, samples: [string, number][]) => {
      out.push(`# HELP ${PREFIX}${name} ${help}`, `# TYPE ${PREFIX}${name} ${type}`);
      for (const [labels, value] of samples) out.push(`${PREFIX}${name}{${labels}} ${value}`);
    };
    const rows = this.current.map((name) => [this.labels(name), this.of(name)] as const);
    family('remote_connected', 'gauge', 'Whether the daemon holds a connection to the remote (1) or not (0).', rows.map(([l, c]) => [l, c.connected ? 1 : 0]));
    family(
      'fetches_total',
      'counter',
      'Fetches from the remote since the daemon started, by result.',
      rows.flatMap(([l, c]) => [[`${l},result="success"`, c.fetchesOk], [`${l},result="failure"`, c.fetchesFailed]] as [string, number][]),
    );
    family(
      'last_successful_fetch_timestamp_seconds',
      'gauge',
      'When the last successful fetch from the remote ended (seconds since the epoch); absent before the first.',
      rows.filter(([, c]) => c.lastOk !== undefined).map(([l, c]) => [l, c.lastOk!]),
    );
    family('reconnects_total', 'counter', 'Connections to the remote made again after a first one, since the daemon started.', rows.map(([l, c]) => [l, c.reconnects]));
    family('worker_restarts_total', 'counter', "Restarts of the remote's worker after it failed, since the daemon started.", rows.map(([l, c]) => [l, c.restarts]));
    return `${out.join('\n')}\n`;
  }

  private labels(remote: string): string {
    return `repository="${escapeLabel(this.repository)}",remote="${escapeLabel(remote)}"`;
  }
}

/** A label value as the exposition format wants it: backslash, double quote and newline escaped. */
export function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/**
 * `remotedaemon.metricsFile` as a path: `~/` is the home directory (as git's `--type=path` reads
 * it), and a relative path is taken from the repository's top directory.
 */
export function metricsPath(value: string | undefined, top: string): string | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  if (v === '~' || v.startsWith('~/')) return join(homedir(), v.slice(1));
  return isAbsolute(v) ? v : resolve(top, v);
}

/**
 * Replaces the file in one step (a temporary file in the same directory, then rename), so the
 * collector never reads half of it. The temporary name does not end in `.prom`, which the
 * collector would otherwise pick up.
 *
 * The directory is often writable by others (textfile collector directories are commonly
 * group-writable), so the temporary name is unpredictable and created with O_EXCL|O_NOFOLLOW: a
 * file or symlink planted there makes the write fail, never write through it. rename(2) replaces
 * the final name itself, even when someone made it a symlink.
 */
export function writeMetricsFile(path: string, text: string): void {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(8).toString('hex')}.tmp`);
  const fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  try {
    try {
      writeSync(fd, text);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (err) {
    removeQuietly(temp);
    throw err;
  }
}

/**
 * Removes the metrics file when the daemon stops, if it is still a file of this user's (in a
 * directory others can write, the name may hold someone else's file by now).
 */
export function removeOwnFile(path: string): void {
  try {
    const stat = lstatSync(path);
    const uid = process.getuid?.();
    if (!stat.isFile() || (uid !== undefined && stat.uid !== uid)) return;
  } catch {
    return;
  }
  removeQuietly(path);
}

export function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

/**
 * A repository's metrics and the textfile they are written to, which the config names
 * (remotedaemon.metricsFile) and may move or drop on any reload. A write that fails is logged; the
 * daemon carries on.
 */
export class MetricsTextfile {
  private readonly metrics: Metrics;
  private path: string | undefined;

  constructor(private readonly top: string, private readonly log: (text: string) => void) {
    this.metrics = new Metrics(top);
  }

  /** An emitted message: the file is written again when it changed a metric. */
  observe(message: Emitted): void {
    if (this.metrics.observe(message)) this.write();
  }

  restarted(remote: string): void {
    this.metrics.restarted(remote);
    this.write();
  }

  /** The config was read: its remotes, and `remotedaemon.metricsFile` as it says it. */
  configured(remotes: string[], file: string | undefined): void {
    this.metrics.setRemotes(remotes);
    const wanted = metricsPath(file, this.top);
    if (this.path && this.path !== wanted) removeOwnFile(this.path);
    this.path = wanted;
    this.write();
  }

  /** The daemon stops: its file goes with it. */
  remove(): void {
    if (this.path) removeOwnFile(this.path);
  }

  private write(): void {
    if (!this.path) return;
    try {
      writeMetricsFile(this.path, this.metrics.render());
    } catch (err) {
      this.log(`cannot write the metrics file ${this.path}: ${(err as Error).message}`);
    }
  }
}
