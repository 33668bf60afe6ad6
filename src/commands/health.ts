// `status --check`: is the daemon healthy? For monitoring (a cron job, a Nagios-style check, a
// systemd timer), so it answers in its exit code as well as in words.
//
// Unhealthy while any daemon-wide condition holds (a config that could not be reloaded, a config
// problem, an endpoint such as the XMPP link or the peer-to-peer DHT that cannot connect), and
// while a remote waits for a person (an unknown host key, failed authentication), its last fetch
// failed, a server asked it to wait (Retry-After), or it has been disconnected longer than
// allowed. A daemon that was told PAUSE or LOSTNET is doing what it was told: its remotes and
// endpoints count as healthy; a broken config does not.

import { serverWaitText, span, type RemoteView, type StateView } from './statusview.js';

export const UNHEALTHY = 2;

export function healthProblems(state: StateView, now: number, maxStaleMs: number): string[] {
  const offline = state.mode === 'paused' || state.mode === 'lostnet';
  const problems: string[] = [];
  for (const w of state.warnings ?? []) {
    // Paused, an endpoint is off the network on purpose; what it said last may be stale.
    if (offline && w.kind?.startsWith('endpoint:')) continue;
    problems.push(`daemon: ${w.text}`);
  }
  if (offline) return problems;
  for (const r of state.remotes ?? []) {
    const problem = remoteProblem(r, now, maxStaleMs);
    if (problem) problems.push(`${r.name}: ${problem}`);
  }
  return problems;
}

function remoteProblem(r: RemoteView, now: number, maxStaleMs: number): string | undefined {
  if (r.phase?.kind === 'waiting') return `waiting for resume or reload: ${r.phase.reason ?? 'see the log'}`;
  if (r.lastFetch && !r.lastFetch.ok) return `last fetch failed ${span(now - r.lastFetch.at)} ago`;
  const wait = serverWaitText(r, now);
  if (wait) return wait;
  if (!r.connected && r.since !== undefined && now - r.since > maxStaleMs) {
    return `disconnected for ${span(now - r.since)} (allowed: ${span(maxStaleMs)})`;
  }
  return undefined;
}
