// The one place protocol lines leave the coordinator. It keeps the pairing rules by construction,
// whatever order STOP, RELOAD, crashes and late worker messages arrive in:
//   - DISCONNECTED only after a CONNECTED that was sent, DONESYNCING only after a SYNCING, each once;
//   - a worker being stopped may still close what it opened, never open anything new;
//   - a condition (WARNING) is said once per remote and kind until it is cleared, across
//     reconnects and worker restarts; RESUME asks for everything to be said again.

import { DAEMON, type Emitted } from './protocol.js';

export interface GateOutput {
  emit(message: Emitted): void;
  log(text: string): void;
  /** The set of held conditions (or a text) changed: what status shows is out of date. */
  changed?(): void;
}

export interface Condition {
  kind: string;
  text: string;
  at: number;
}

/**
 * A held condition's changed text reaches the log at most this often (status shows the latest at
 * once): a text that changes at every retry cannot flood the log.
 */
export const TEXT_LOG_EVERY_MS = 10_000;

interface Held extends Condition {
  /** When its text last went to the log (or was said), and which text that was. */
  loggedAt: number;
  loggedText: string;
}

export class ProtocolGate {
  private readonly conditions = new Map<string, Map<string, Held>>();

  constructor(
    private readonly out: GateOutput,
    private readonly now: () => number = Date.now,
  ) {}

  /** A pairing guard for one worker of `remote`: what it opened, and whether it may open more. */
  pairingGuard(remote: string): PairingGuard {
    return new PairingGuard(remote, this.out);
  }

  /**
   * A WARNING about one request (a bad control line, a FETCH of a remote the daemon does not act
   * on) or one event (the repository is gone): said every time, held by nothing.
   */
  warn(remote: string, text: string): void {
    this.out.emit({ type: 'WARNING', remote, text });
  }

  /**
   * A condition for `remote` (or DAEMON) holds: said now unless this kind is already said. This is
   * the one place that decides it: workers, transports and endpoints report every time.
   */
  raise(remote: string, kind: string, text: string): void {
    let held = this.conditions.get(remote);
    if (!held) this.conditions.set(remote, (held = new Map()));
    const already = held.get(kind);
    const now = this.now();
    if (!already) {
      held.set(kind, { kind, text, at: now, loggedAt: now, loggedText: text });
      this.out.changed?.();
      this.out.emit({ type: 'WARNING', remote, text });
      return;
    }
    // Still true: status shows the new text at once, the controller heard it already.
    if (already.text !== text) {
      already.text = text;
      this.out.changed?.();
    }
    // The log gets the text in force, at most every TEXT_LOG_EVERY_MS: a text held back by the
    // limit goes at the next report after it, even when that report repeats it.
    if (text === already.loggedText || now - already.loggedAt < TEXT_LOG_EVERY_MS) return;
    already.loggedAt = now;
    already.loggedText = text;
    this.out.log(`${remote === DAEMON ? 'daemon' : remote}: ${text}`);
  }

  /** A condition no longer holds: said again if it comes back. */
  clear(remote: string, kind: string): void {
    if (this.conditions.get(remote)?.delete(kind)) this.out.changed?.();
  }

  /** Sets the conditions of one family (kinds starting with `prefix`) to exactly `now`. */
  replaceFamily(remote: string, prefix: string, now: Map<string, string>): void {
    for (const kind of [...(this.conditions.get(remote)?.keys() ?? [])]) {
      if (kind.startsWith(prefix) && !now.has(kind)) this.clear(remote, kind);
    }
    for (const [kind, text] of now) this.raise(remote, kind, text);
  }

  /** What still holds for `remote`, oldest first. */
  held(remote: string): Condition[] {
    return [...(this.conditions.get(remote)?.values() ?? [])].map(({ kind, text, at }) => ({ kind, text, at }));
  }

  /** Remotes that have conditions held (DAEMON among them). */
  remotes(): string[] {
    return [...this.conditions.keys()].filter((r) => this.conditions.get(r)!.size > 0);
  }

  /** RESUME: the user asks to try again, so whatever still stands in the way is said again. */
  forgetRemote(remote: string): void {
    if (this.conditions.delete(remote)) this.out.changed?.();
  }

  forgetWhere(filter: (remote: string, kind: string) => boolean): void {
    let changed = false;
    for (const [remote, held] of this.conditions) for (const kind of [...held.keys()]) if (filter(remote, kind)) changed = held.delete(kind) || changed;
    if (changed) this.out.changed?.();
  }
}

/**
 * Keeps one worker's CONNECTED/DISCONNECTED and SYNCING/DONESYNCING in pairs: pairs are kept per
 * worker, and a stopping worker can only close what it opened.
 */
export class PairingGuard {
  connected = false;
  syncing = false;
  private closing = false;

  constructor(
    readonly remote: string,
    private readonly out: GateOutput,
  ) {}

  connect(): boolean {
    if (this.connected || this.closing) return false;
    this.connected = true;
    this.out.emit({ type: 'CONNECTED', remote: this.remote });
    return true;
  }

  disconnect(): boolean {
    if (!this.connected) return false;
    this.connected = false;
    this.out.emit({ type: 'DISCONNECTED', remote: this.remote });
    return true;
  }

  sync(): boolean {
    if (this.syncing || this.closing) return false;
    this.syncing = true;
    this.out.emit({ type: 'SYNCING', remote: this.remote });
    return true;
  }

  doneSyncing(ok: boolean): boolean {
    if (!this.syncing) return false;
    this.syncing = false;
    this.out.emit({ type: 'DONESYNCING', remote: this.remote, ok });
    return true;
  }

  /** The worker is being stopped: from now on it may only close what it opened. */
  stopping(): void {
    this.closing = true;
  }

  /** The worker is gone: whatever it left open is closed on its behalf (a fetch it owed fails). */
  end(): { closedSync: boolean; closedConnection: boolean } {
    this.closing = true;
    return { closedSync: this.doneSyncing(false), closedConnection: this.disconnect() };
  }
}
