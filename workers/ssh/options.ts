// The plain data an ssh remote's spec carries (read from git's config by ./plugin.ts).

import type { DirectSetup, Fallback } from '../direct/plan.js';

/** What an ssh remote reads from git's config, beyond what `ssh -G` resolves at connect time. */
export interface SshOptions {
  /** `core.sshCommand` (or `GIT_SSH_COMMAND` from the environment), as the user set it. */
  sshCommand?: string;
  /** Command run on the server to learn of changes (`remote.<name>.remotedaemon-notifier`). */
  notifier?: string;
  /** How its fetches go without git fetch (workers/direct/), or why git fetch must make them. */
  direct?: DirectSetup | Fallback;
}
