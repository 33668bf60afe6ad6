// The receiver's settings from git's config. Off unless remotedaemon.webhook.listen is set; only on
// a loopback address unless remotedaemon.webhook.allowRemote is true (a receiver facing the network
// belongs behind a reverse proxy that does TLS); never without a secret.

import { last, parseBool, type GitConfig } from '../../../shared/gitconfig.js';

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
