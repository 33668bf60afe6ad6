// When the next poll is due. Polls of one remote land near fixed slots, `interval` apart, at a phase
// taken from a hash of its URL: remotes on the same host (and daemons on many machines polling one
// forge) spread over the interval instead of firing together, and a restart does not move them.
// Each delay is jittered by ±10% of the interval so that slots do not line up by accident either.

import { createHash } from 'node:crypto';

/** Where in each interval a remote polls, as a fraction in [0, 1): stable for a URL. */
export function phaseOf(url: string): number {
  return createHash('sha256').update(url).digest().readUInt32BE(0) / 2 ** 32;
}

/**
 * Milliseconds until the next poll: the first slot at least half an interval away (so a poll that
 * just ran for a nudge is not followed by another at once), plus jitter. Between 0.4 and 1.6
 * intervals, on average one.
 */
export function nextPollDelay(intervalMs: number, phase: number, now: number, random: number): number {
  const offset = phase * intervalMs;
  const earliest = now + intervalMs / 2;
  const slot = Math.ceil((earliest - offset) / intervalMs) * intervalMs + offset;
  const jitter = (random * 2 - 1) * 0.1 * intervalMs;
  return Math.max(0, Math.round(slot - now + jitter));
}

/** The longest wait between polls when a webhook announces pushes: the poll is then a safety net. */
export const MAX_SAFETY_NET_SECONDS = 3600;

/** Seconds between polls: the configured interval (at least 1 s), or 10x it (at most 1 h) behind a webhook. */
export function pollIntervalSeconds(configured: number, webhook: boolean): number {
  const base = Math.max(1, Number.isFinite(configured) ? configured : 60);
  return webhook ? Math.max(base, Math.min(base * 10, MAX_SAFETY_NET_SECONDS)) : base;
}
