// The webhook receiver as httpPlugin's shared endpoint: settings from git's config, code loaded in
// its own thread from endpoint.js.

import type { EndpointPlugin } from '../../../shared/plugin.js';
import { readSettings, webhookSettings } from './settings.js';

export const webhookEndpoint: EndpointPlugin = {
  settings: webhookSettings,
  // One receiver per address in a process: repositories of the shared daemon that listen on the
  // same one share it, if their secrets are the same (a delivery is verified with the one secret).
  identity(raw) {
    const { listen } = readSettings(raw);
    if (!listen) return undefined; // off anyway: said as a config problem
    const address = listen.host.includes(':') ? `[${listen.host}]:${listen.port}` : `${listen.host}:${listen.port}`;
    return { key: address, shared: true, describe: `the webhook address ${address}` };
  },
  file: new URL('./endpoint.js', import.meta.url),
};
