// The webhook receiver as httpPlugin's shared endpoint: settings from git's config, code loaded in
// its own thread from endpoint.js.

import type { EndpointPlugin } from '../../../shared/plugin.js';
import { webhookSettings } from './settings.js';

export const webhookEndpoint: EndpointPlugin = {
  settings: webhookSettings,
  file: new URL('./endpoint.js', import.meta.url),
};
