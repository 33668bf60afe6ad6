// A remote's phase and the daemon-wide switch it runs under: what a worker reports (workerapi.ts)
// and the coordinator shows in status. The rules that move between phases are the worker's
// (workers/lifecycle.ts).

/** What the coordinator holds against the daemon-wide switches PAUSE / LOSTNET / RESUME. */
export type ControlMode = 'running' | 'paused' | 'lostnet';

export type Phase =
  /** PAUSE: nothing runs until RESUME. */
  | { kind: 'paused' }
  /** LOSTNET, for a transport that needs the network: nothing probes it until RESUME. */
  | { kind: 'offline' }
  | { kind: 'connecting'; attempt: number }
  | { kind: 'connected'; attempt: number; since: number }
  /** Waiting before the next attempt (after a failed connect or a lost connection). */
  | { kind: 'backoff'; until: number; reason: string }
  /** Retrying cannot help (unknown host key, no credentials): waits for RESUME or RELOAD. */
  | { kind: 'waiting'; reason: string }
  | { kind: 'stopping' };
