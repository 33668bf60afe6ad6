// "At most one running, one waiting": however many requests arrive, a job runs once at a time,
// and a request made while it runs earns exactly one more run (which serves every later request
// too). Fetches and ref listings triggered by notices both work this way, so a flood of notices
// costs at most two runs in flight per remote.

export class Coalesced {
  private current: Promise<void> | undefined;
  private waiting: Promise<void> | undefined;

  constructor(private readonly job: () => Promise<void>) {}

  /** Asks for a run that starts after this call; resolves when that run is over. */
  request(): Promise<void> {
    if (!this.current) {
      this.current = this.job()
        .catch(() => {}) // the job reports its own failures; a request only waits for it
        .finally(() => (this.current = undefined));
      return this.current;
    }
    this.waiting ??= this.current.then(() => {
      this.waiting = undefined;
      return this.request();
    });
    return this.waiting;
  }

  /** True while a run is under way. */
  get running(): boolean {
    return this.current !== undefined;
  }

  /** True while a run waits to start after the running one. */
  get queued(): boolean {
    return this.waiting !== undefined;
  }

  /** Resolves when nothing runs or waits. */
  async idle(): Promise<void> {
    while (this.current || this.waiting) await (this.waiting ?? this.current);
  }
}
