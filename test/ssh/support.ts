// What the ssh transport tests share: a recorder of transport events that says conditions as the
// gate does, the transport made for a fixture (with test-sized notifier limits when asked), and
// process lookups on both sides.

import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { create } from '../../workers/ssh/transport.js';
import type { NotifierLimits } from '../../workers/ssh/notifier.js';
import type { Connection, RemoteChange, TransportEvents } from '../../shared/transport.js';
import type { RemoteSpec } from '../../shared/workerapi.js';
import type { StartSshdOptions } from '../support/sshd.js';
import { makeSshFixture, type SshFixture } from './fixture.js';

export type After = { after(fn: () => unknown): void };

export class Recorder implements TransportEvents {
  changes: RemoteChange[] = [];
  warnings: string[] = [];
  logs: string[] = [];
  changed(change: RemoteChange): void {
    this.changes.push(change);
  }
  private readonly held = new Set<string>();
  /** As the coordinator's gate says them: once per kind until cleared. */
  condition(kind: string, text: string | null): void {
    if (text === null) this.held.delete(kind);
    else if (!this.held.has(kind)) {
      this.held.add(kind);
      this.warnings.push(text);
    }
  }
  watching(how: string): void {
    this.logs.push(`watching: ${how}`);
  }
  log(text: string): void {
    this.logs.push(text);
  }
  /** Shas and ref values reported so far. */
  seen(): Set<string> {
    const all = new Set<string>();
    for (const c of this.changes) for (const sha of c.kind === 'shas' ? c.shas : c.kind === 'refs' ? c.refs.values() : []) all.add(sha);
    return all;
  }
}

export async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export async function fixture(t: After, opts: StartSshdOptions = { serverBin: { gitRemoteDaemon: true } }): Promise<SshFixture> {
  const fx = await makeSshFixture(opts);
  t.after(() => fx.cleanup());
  return fx;
}

/** What a test may vary: the spec, the ssh options, the poll interval. */
export type Extra = Partial<Omit<RemoteSpec, 'options'>> & { notifier?: string; sshCommand?: string; pollIntervalSeconds?: number };

export function sshFor(fx: SshFixture, extra: Extra = {}, tuning: Partial<NotifierLimits> = {}) {
  const { notifier, sshCommand, pollIntervalSeconds, ...rest } = extra;
  const spec: RemoteSpec = {
    name: 'origin',
    url: fx.url,
    transport: 'ssh',
    fetchRefspecs: ['+refs/heads/*:refs/remotes/origin/*'],
    options: { sshCommand: sshCommand ?? fx.sshd.sshCommand, ...(notifier !== undefined && { notifier }) },
    ...rest,
  };
  const live = { pollIntervalSeconds: pollIntervalSeconds ?? 60, reportUpdates: false };
  return create({ spec, repo: { cwd: fx.local, gitDir: join(fx.local, '.git') }, live: () => live }, tuning);
}

export async function connect(t: After, fx: SshFixture, extra: Extra = {}, tuning: Partial<NotifierLimits> = {}): Promise<{ connection: Connection; events: Recorder }> {
  const events = new Recorder();
  const transport = sshFor(fx, extra, tuning);
  const connection = await transport.connect(events, new AbortController().signal);
  t.after(() => connection.close());
  return { connection, events };
}

export function localProcesses(pattern: string): Promise<number[]> {
  return new Promise((resolve) => {
    execFile('pgrep', ['-f', pattern], { encoding: 'utf8' }, (err, stdout) => resolve(err ? [] : stdout.trim().split('\n').filter(Boolean).map(Number)));
  });
}

export function serverProcesses(pattern: string): Promise<number[]> {
  return new Promise((resolve) => {
    execFile('pgrep', ['-u', 'grd-test', '-f', pattern], { encoding: 'utf8' }, (err, stdout) =>
      resolve(err ? [] : stdout.trim().split('\n').filter(Boolean).map(Number)),
    );
  });
}

