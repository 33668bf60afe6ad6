// The receiver's settings from git's config. Off unless remotedaemon.webhook.listen is set; only on
// a loopback address unless remotedaemon.webhook.allowRemote is true (a receiver facing the network
// belongs behind a reverse proxy that does TLS); never without a secret.

import { readFileSync, statSync } from 'node:fs';
import { last, parseBool, type GitConfig } from '../../../shared/gitconfig.js';

/**
 * The most distinct secrets one receiver checks a delivery against: each is an HMAC over every
 * byte of every delivery. A repository whose secret would be one more gets no part in it.
 */
export const MAX_SECRETS = 32;

export interface WebhookSettings {
  /** Where to listen; null when the settings are unusable (the receiver then stays off). */
  listen: { host: string; port: number } | null;
  /** remotedaemon.webhook.secret, if set. */
  secret?: string;
  /** remotedaemon.webhook.secretFile: read by the receiver, which checks its permissions. */
  secretFile?: string;
}

export function webhookSettings(config: GitConfig): { settings: Record<string, unknown>; problems?: string[] } | undefined {
  const listenText = last(config, 'remotedaemon.webhook.listen');
  if (listenText === undefined || listenText === '') return undefined;
  const problems: string[] = [];
  let listen = parseListen(listenText);
  if (!listen) {
    problems.push(`remotedaemon.webhook.listen: ${JSON.stringify(listenText)} is not [HOST:]PORT; the webhook receiver is off`);
  } else if (!isLoopback(listen.host) && parseBool(last(config, 'remotedaemon.webhook.allowremote') ?? 'false') !== true) {
    problems.push(
      `remotedaemon.webhook.listen: ${listen.host} is not a loopback address; put a reverse proxy in front, ` +
        'or set remotedaemon.webhook.allowRemote=true. The webhook receiver is off',
    );
    listen = undefined;
  }
  const secret = last(config, 'remotedaemon.webhook.secret');
  const secretFile = last(config, 'remotedaemon.webhook.secretfile');
  if (!secret && !secretFile) {
    problems.push('remotedaemon.webhook.secret or remotedaemon.webhook.secretFile must be set; the webhook receiver is off');
    listen = undefined;
  }
  const settings: WebhookSettings = {
    listen: listen ?? null,
    ...(secretFile ? { secretFile } : secret ? { secret } : {}),
  };
  return { settings: { ...settings }, ...(problems.length > 0 && { problems }) };
}

/** `PORT`, `HOST:PORT` or `[V6]:PORT`; a bare port listens on 127.0.0.1. */
export function parseListen(text: string): { host: string; port: number } | undefined {
  const match = /^(?:(?:\[([0-9a-fA-F:.]+)\]|([^:\s\[\]]+)):)?(\d{1,5})$/.exec(text.trim());
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port > 65535) return undefined;
  return { host: match[1] ?? match[2] ?? '127.0.0.1', port };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Reads the task's settings defensively (they crossed a thread boundary). */
export function readSettings(raw: Record<string, unknown>): WebhookSettings {
  const listen = raw.listen as WebhookSettings['listen'] | undefined;
  return {
    listen: listen && typeof listen.host === 'string' && typeof listen.port === 'number' ? listen : null,
    ...(typeof raw.secret === 'string' && { secret: raw.secret }),
    ...(typeof raw.secretFile === 'string' && { secretFile: raw.secretFile }),
  };
}

/** The secret from a file only its owner can read: a secret others can read is no secret. */
function readSecretFile(path: string): string {
  const stat = statSync(path);
  if ((stat.mode & 0o077) !== 0) throw new Error(`${path} is readable by others (mode ${(stat.mode & 0o777).toString(8)}); chmod 600 it`);
  return readFileSync(path, 'utf8').trim();
}

/**
 * The secret `settings` name, from secretFile or else secret; undefined when neither is set (the
 * settings already say so as a problem). Throws when it cannot be used: a file others can read or
 * that cannot be read, an empty secret.
 */
export function settingsSecret(settings: Pick<WebhookSettings, 'secret' | 'secretFile'>): string | undefined {
  const { secret, secretFile } = settings;
  if (secretFile === undefined && secret === undefined) return undefined;
  let value: string;
  try {
    value = secretFile !== undefined ? readSecretFile(secretFile) : secret!;
  } catch (err) {
    throw new Error(`the webhook secret: ${(err as Error).message}`);
  }
  if (value === '') throw new Error('the webhook secret is empty');
  return value;
}

/**
 * A repository's own secret (EndpointPlugin.own): each remote of the repository is attached with
 * it, so one receiver serves repositories with different secrets. Throws when it cannot be used
 * (that repository is then off, the others not).
 */
export function ownSecret(raw: Record<string, unknown>): { secret?: string } {
  const secret = settingsSecret(readSettings(raw));
  return secret === undefined ? {} : { secret };
}
