// `status --check`: is every remote healthy? For monitoring (a cron job, a Nagios-style check, a
// systemd timer), so it answers in its exit code as well as in words.
//
// A remote is unhealthy when it waits for a person (an unknown host key, failed authentication),
// when its last fetch failed, or when it has been disconnected longer than allowed. A daemon that
// was told PAUSE or LOSTNET is doing what it was told: its remotes count as healthy.

import { span, type RemoteView, type StateView } from './statusview.js';

export const UNHEALTHY = 2;

export function healthProblems(state: StateView, now: number, maxStaleMs: number): string[] {
  if (state.mode === 'paused' || state.mode === 'lostnet') return [];
  const problems: string[] = [];
  for (const r of state.remotes ?? []) {
    const problem = remoteProblem(r, now, maxStaleMs);
    if (problem) problems.push(`${r.name}: ${problem}`);
  }
  return problems;
}

function remoteProblem(r: RemoteView, now: number, maxStaleMs: number): string | undefined {
  if (r.phase?.kind === 'waiting') return `waiting for resume or reload: ${r.phase.reason ?? 'see the log'}`;
  if (r.lastFetch && !r.lastFetch.ok) return `last fetch failed ${span(now - r.lastFetch.at)} ago`;
  if (!r.connected && r.since !== undefined && now - r.since > maxStaleMs) {
    return `disconnected for ${span(now - r.since)} (allowed: ${span(maxStaleMs)})`;
  }
  return undefined;
}
