// The plain data a remote's worker gets from httpPlugin.remoteOptions (spec.options): decided once
// from git's config in the coordinator, compared to tell a changed remote.

import type { CaSettings } from './trust.js';

export interface HttpOptions {
  /** Our own ls-refs request may poll this remote (see fallback.ts); else `git ls-remote` does. */
  fastPath: boolean;
  /** Why not, for the log. */
  fallbackReasons: string[];
  /** https:// only: CA settings git has for it, which our request honours (trust.ts). */
  ca?: CaSettings;
  userAgent: string;
  /** The configured credential helpers, by kind only (a helper's command line may hold a secret). */
  credentialHelpers: string[];
  /** Test hook: tighter bounds than the defaults. Never read from config. */
  limits?: Partial<Limits>;
}

export interface Limits {
  /** One listing, request to last byte. */
  timeoutMs: number;
  /** One listing's answer. A heads-and-tags listing of a repository with 100 000 refs is ~7 MiB. */
  maxBytes: number;
}

export const DEFAULT_LIMITS: Limits = { timeoutMs: 30_000, maxBytes: 16 * 1024 * 1024 };

/** Reads spec.options defensively: a worker must not crash on options from an older coordinator. */
export function readOptions(raw: Record<string, unknown>): HttpOptions {
  return {
    fastPath: raw.fastPath !== false,
    fallbackReasons: Array.isArray(raw.fallbackReasons) ? raw.fallbackReasons.map(String) : [],
    ...(typeof raw.ca === 'object' && raw.ca !== null && { ca: readCa(raw.ca as Record<string, unknown>) }),
    userAgent: typeof raw.userAgent === 'string' ? raw.userAgent : 'git/2 (git-remote-daemon)',
    credentialHelpers: Array.isArray(raw.credentialHelpers) ? raw.credentialHelpers.map(String) : [],
    ...(typeof raw.limits === 'object' && raw.limits !== null && { limits: raw.limits as Partial<Limits> }),
  };
}

function readCa(raw: Record<string, unknown>): CaSettings {
  return {
    inConfig: raw.inConfig === true,
    ...(typeof raw.caInfoEnv === 'string' && { caInfoEnv: raw.caInfoEnv }),
    ...(typeof raw.caPathEnv === 'string' && { caPathEnv: raw.caPathEnv }),
  };
}
