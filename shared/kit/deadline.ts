// A caller's signal with a deadline added, for work that must end either way and that more than a
// single child's own `timeout` has to end (a socket, a process group, an ssh way through
// ProxyJump). Not `AbortSignal.any([signal, AbortSignal.timeout(ms)])`: on Node 20 the timeout
// signal inside it is held only weakly, and a garbage collection before it fires takes it away
// (nodejs/node#57736), so the deadline never comes. Seen here as a git:// listing of a server
// that never answered waiting for ever, in one unit run of a dozen under load. A plain timer holds
// what it aborts until it fires or is cleared.

export interface Deadline {
  /** Aborted by the caller's signal (with its reason) or at the deadline (a TimeoutError). */
  readonly signal: AbortSignal;
  /** True once the deadline, not the caller, ended it. */
  readonly timedOut: boolean;
  /** The work is over: the timer and the link to the caller's signal go (a long-lived one keeps no listener). */
  clear(): void;
}

/**
 * `signal`: the caller's, if it has one. `reason`: what the deadline aborts with (by default a
 * TimeoutError saying how long it waited), for callers whose error names their own setting.
 */
export function withDeadline(signal: AbortSignal | undefined, ms: number, reason = () => new DOMException(`no end within ${ms} ms`, 'TimeoutError') as Error): Deadline {
  const controller = new AbortController();
  let timedOut = false;
  const follow = () => controller.abort(signal!.reason);
  // Unref'd as AbortSignal.timeout's is: the work itself (a socket, a child) keeps the process up.
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(reason());
  }, ms).unref();
  const clear = () => {
    clearTimeout(timer);
    signal?.removeEventListener('abort', follow);
  };
  controller.signal.addEventListener('abort', clear, { once: true });
  if (signal?.aborted) follow();
  else signal?.addEventListener('abort', follow, { once: true });
  return {
    signal: controller.signal,
    get timedOut() {
      return timedOut;
    },
    clear,
  };
}
