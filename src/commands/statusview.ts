// What `status` prints, for a person reading it at a glance: aligned, within 80 columns, times in
// UTC as the log writes them (without the milliseconds) followed by how long ago.
//
// It reads the state file as plain data from whichever daemon version wrote it, so every field is
// optional here: a missing one is left out of the output, never an error.

import { formatBytes } from '../../shared/kit/bytes.js';

/** A remote as the state file describes it (older and newer daemons write different fields). */
export interface RemoteView {
  name: string;
  transport?: string;
  url?: string;
  /** The worker's lifecycle phase (newer daemons). */
  phase?: { kind: string; until?: number; reason?: string; since?: number };
  connected?: boolean;
  /** When `connected` last changed. */
  since?: number;
  /** How changes are noticed while connected: "notifier", "polling every 60 s"... */
  watching?: string;
  nextLookAt?: number;
  /** The server's last Retry-After (newer daemons): in force while `until` is in the future. */
  serverWait?: { until: number; seconds: number };
  lastFetch?: { at: number; ok: boolean };
  fetching?: { since: number; stage?: string; percent?: number; bytes?: number };
  lastChange?: { at: number; summary: string };
  /** When the next connection attempt is due (older daemons). */
  nextRetry?: number;
  /** The conditions still true (newer daemons). */
  warnings?: { at: number; kind?: string; text: string }[];
  /** The last warning, true or not any more (older daemons). */
  lastWarning?: { at: number; text: string };
}

export interface StateView {
  pid: number;
  startedAt?: number;
  cwd?: string;
  mode?: string;
  /** The shared daemon serves it (`register`, `start --all`). */
  shared?: boolean;
  remotes?: RemoteView[];
  /** Daemon-wide conditions that hold now (newer daemons): not about one remote. */
  warnings?: { at: number; kind?: string; text: string }[];
  ignored?: { name: string; reason: string }[];
  /** Shared endpoints that report a status (the XMPP notice link). */
  endpoints?: { name: string; summary: string; events?: { what: string; at: number }[] }[];
}

/** The checked-out branch against its upstream. */
export interface BranchView {
  branch?: string;
  upstream?: string;
  ahead?: number;
  behind?: number;
}

const WIDTH = 80;

export function formatStatus(state: StateView, now: number, branch?: BranchView): string {
  const out: string[] = [];
  const who = state.shared ? `pid ${state.pid}, the shared daemon` : `pid ${state.pid}`;
  out.push(`running (${who})${state.startedAt ? ` since ${when(state.startedAt, now)}` : ''}`);
  if (state.cwd) out.push(`in ${state.cwd}`);
  if (state.mode === 'paused') out.push('PAUSED: nothing is watched or fetched until `git remote-daemon resume`');
  else if (state.mode === 'lostnet') out.push('OFFLINE (LOSTNET): network remotes wait for `git remote-daemon resume`');
  for (const w of state.warnings ?? []) out.push(...wrap(`warning (${ago(w.at, now)}): ${w.text}`, '  '));
  if (branch) out.push(formatBranch(branch));
  out.push('');

  const remotes = state.remotes ?? [];
  if (remotes.length === 0) out.push('no remotes to act on');
  const nameWidth = Math.min(20, Math.max(...remotes.map((r) => r.name.length), 0));
  const transportWidth = Math.max(...remotes.map((r) => transportLabel(r).length), 0);
  const indent = ' '.repeat(nameWidth + 2 + (transportWidth ? transportWidth + 2 : 0));
  for (const r of remotes) {
    const head = `${r.name.padEnd(nameWidth)}  ${transportWidth ? `${transportLabel(r).padEnd(transportWidth)}  ` : ''}`;
    const details = remoteDetails(r, now);
    out.push(...wrap(`${head}${details[0]}`, `${indent}  `));
    for (const line of details.slice(1)) out.push(...wrap(`${indent}${line}`, `${indent}  `));
  }

  for (const e of state.endpoints ?? []) {
    out.push('');
    out.push(...wrap(`${e.name}: ${e.summary}`, '  '));
    for (const ev of e.events ?? []) out.push(...wrap(`  ${ev.what} (${ago(ev.at, now)})`, '    '));
  }

  const ignored = state.ignored ?? [];
  if (ignored.length > 0) {
    out.push('', 'ignored:');
    const width = Math.min(20, Math.max(...ignored.map((i) => i.name.length)));
    for (const { name, reason } of ignored) out.push(...wrap(`  ${name.padEnd(width)}  ${reason}`, ' '.repeat(width + 4)));
  }
  return out.join('\n');
}

function formatBranch(b: BranchView): string {
  if (!b.branch) return 'HEAD is detached';
  if (!b.upstream) return `branch ${b.branch}, no upstream`;
  if (b.ahead === undefined || b.behind === undefined) return `branch ${b.branch} tracks ${b.upstream}`;
  if (b.ahead === 0 && b.behind === 0) return `branch ${b.branch}, up to date with ${b.upstream}`;
  const parts = [b.ahead ? `${b.ahead} ahead` : '', b.behind ? `${b.behind} behind` : ''].filter(Boolean);
  return `branch ${b.branch}, ${parts.join(' and ')} ${b.upstream}`;
}

/** One remote's lines: its state first, then how it is watched, its last fetch, its warnings. */
function remoteDetails(r: RemoteView, now: number): string[] {
  const lines = [stateLine(r, now)];
  if (r.connected && r.watching) {
    const next = r.nextLookAt !== undefined && r.nextLookAt > now ? `, next look ${ago(r.nextLookAt, now)}` : '';
    lines.push(`watching: ${r.watching}${next}`);
  }
  const wait = serverWaitText(r, now);
  if (wait) lines.push(wait);
  if (r.fetching) lines.push(fetchingLine(r.fetching, now));
  lines.push(r.lastFetch ? `last fetch: ${when(r.lastFetch.at, now)}, ${r.lastFetch.ok ? 'ok' : 'FAILED'}` : 'last fetch: none yet');
  if (r.lastChange) lines.push(`last change: ${ago(r.lastChange.at, now)}, ${r.lastChange.summary}`);
  for (const w of currentWarnings(r)) lines.push(`warning (${ago(w.at, now)}): ${w.text}`);
  return lines;
}

/** `server asked to wait 120 s (until 10:31:05 UTC)` while a Retry-After is in force. */
export function serverWaitText(r: RemoteView, now: number): string | undefined {
  const w = r.serverWait;
  if (!w || w.until <= now) return undefined;
  return `server asked to wait ${w.seconds} s (until ${new Date(w.until).toISOString().slice(11, 19)} UTC)`;
}

/** `fetching for 28s: Receiving objects 45%, 12.3 MiB received` */
function fetchingLine(f: NonNullable<RemoteView['fetching']>, now: number): string {
  const stage = f.stage ? `: ${f.stage} ${f.percent ?? '?'}%` : '';
  const received = f.bytes !== undefined ? `, ${formatBytes(f.bytes)} received` : '';
  return `fetching for ${span(now - f.since)}${stage}${received}`;
}

function stateLine(r: RemoteView, now: number): string {
  const since = r.since !== undefined ? ` since ${when(r.since, now)}` : '';
  const phase = r.phase;
  if (phase) {
    switch (phase.kind) {
      case 'connected':
        return `connected${since}`;
      case 'backoff':
        return `disconnected${since}; retrying in ${phase.until !== undefined ? seconds(phase.until - now) : '?'}`;
      case 'waiting':
        return `disconnected${since}; waiting for resume or reload`;
      case 'offline':
        return `offline (LOSTNET)${since}`;
      default:
        return `${phase.kind}${since}`; // paused, connecting, stopping, or one this version does not know
    }
  }
  if (r.connected) return `connected${since}`;
  return `disconnected${since}${r.nextRetry !== undefined ? `; retrying in ${seconds(r.nextRetry - now)}` : ''}`;
}

/**
 * The warnings that still hold. Newer daemons list exactly those; from an older one's last
 * warning, keep it only when nothing good (a connection, a successful fetch) came after it.
 */
function currentWarnings(r: RemoteView): { at: number; text: string }[] {
  if (r.warnings) return r.warnings;
  const w = r.lastWarning;
  if (!w) return [];
  if (r.lastFetch?.ok && r.lastFetch.at >= w.at) return [];
  if (r.connected && r.since !== undefined && r.since >= w.at) return [];
  return [w];
}

/** `2026-12-02T09:15:02Z (5m ago)`: the log's UTC timestamps, to the second. */
export function when(at: number, now: number): string {
  return `${new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z')} (${ago(at, now)})`;
}

export function ago(at: number, now: number): string {
  return at > now ? `in ${span(at - now)}` : `${span(now - at)} ago`;
}

/** A duration as its two largest units: 42s, 5m 03s, 2h 05m, 3d 4h. */
export function span(ms: number): string {
  const s = Math.floor(Math.max(0, ms) / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor(s / 3600) % 24}h`;
}

/** Rounded up: a retry due in 300 ms reads "1 s", never "0 s". */
function seconds(ms: number): string {
  return `${Math.max(0, Math.ceil(ms / 1000))} s`;
}

/**
 * The transport as a person names it: the http transport also serves git://, which reads as "git"
 * (the name the daemon keeps, in the state file and the log, is the registry's).
 */
function transportLabel(r: RemoteView): string {
  if (r.transport === 'http' && r.url?.startsWith('git://')) return 'git';
  return r.transport ?? '';
}

/**
 * Whether a line may break at the space at `i`: not inside a quantity, between a number and its
 * unit ("20 s", "12.3 MiB") or between the parts of a span ("5m 03s").
 */
function breakable(text: string, i: number): boolean {
  if (/\d/.test(text[i - 1] ?? '')) return false;
  return !(/\d[a-z]+$/i.test(text.slice(Math.max(0, i - 8), i)) && /\d/.test(text[i + 1] ?? ''));
}

/** The last space at or before `from` where the line may break, or -1. */
function lastBreak(text: string, from: number): number {
  for (let i = text.lastIndexOf(' ', from); i >= 0; i = text.lastIndexOf(' ', i - 1)) if (breakable(text, i)) return i;
  return -1;
}

/** The first space after `from` where the line may break, or -1. */
function nextBreak(text: string, from: number): number {
  for (let i = text.indexOf(' ', from); i >= 0; i = text.indexOf(' ', i + 1)) if (breakable(text, i)) return i;
  return -1;
}

/**
 * Breaks a line at spaces to fit WIDTH columns; continuation lines get `indent`. A number and its
 * unit stay on one line.
 */
export function wrap(line: string, indent: string): string[] {
  const lines: string[] = [];
  let rest = line;
  while (rest.length > WIDTH) {
    let cut = lastBreak(rest, WIDTH);
    if (cut <= indent.length) cut = nextBreak(rest, WIDTH); // one long word: let it overflow
    if (cut < 0) break;
    lines.push(rest.slice(0, cut).trimEnd());
    rest = indent + rest.slice(cut + 1).trimStart();
  }
  lines.push(rest);
  return lines;
}
