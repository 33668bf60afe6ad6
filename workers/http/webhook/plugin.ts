// The webhook receiver as httpPlugin's shared endpoint: settings from git's config, code loaded in
// its own thread from endpoint.js.

import type { EndpointPlugin } from '../../../shared/plugin.js';
import { MAX_SECRETS, ownSecret, readSettings, webhookSettings } from './settings.js';

export const webhookEndpoint: EndpointPlugin = {
  settings: webhookSettings,
  // One receiver per address in a process: repositories of the shared daemon that listen on the
  // same one share it, whatever their secrets. Each repository's secret is its own: read here (a
  // file others can read keeps that repository off, not the receiver), it comes with each of the
  // repository's remotes, and a delivery nudges only remotes whose repository's secret it proves.
  own: { keys: ['secret', 'secretFile'], read: ownSecret, max: MAX_SECRETS, describe: 'secrets' },
  identity(raw) {
    const { listen } = readSettings(raw);
    if (!listen) return undefined; // off anyway: said as a config problem
    const address = listen.host.includes(':') ? `[${listen.host}]:${listen.port}` : `${listen.host}:${listen.port}`;
    return { key: address, shared: true, describe: `the webhook address ${address}` };
  },
  file: new URL('./endpoint.js', import.meta.url),
};
