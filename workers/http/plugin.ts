// http(s):// and git:// remotes. Watching them costs one small request per poll interval (see
// docs/http.md); a forge's webhook, received by the shared endpoint, makes pushes known at once.

import type { TransportPlugin } from '../../shared/plugin.js';
import { helperNames } from './credentials.js';
import { decidePath, userAgent } from './fallback.js';
import type { HttpOptions } from './options.js';
import { parseRemoteUrl } from './urls.js';
import { webhookEndpoint } from './webhook/plugin.js';

export const httpPlugin: TransportPlugin = {
  name: 'http',
  serves: 'http://, https:// and git://',
  network: true,
  claims: (_url, kind) => kind.kind === 'scheme' && ['http', 'https', 'git'].includes(kind.scheme),
  remoteOptions({ name, url, config, env }) {
    const parsed = parseRemoteUrl(url);
    if (!parsed) return { ignore: `${url.replace(/\/\/[^/@]*@/, '//')} is not a URL this daemon can read` };
    const decision = decidePath(parsed.scheme, name, config, env);
    const options: HttpOptions = {
      fastPath: decision.fastPath,
      fallbackReasons: decision.reasons,
      ...(decision.ca && { ca: decision.ca }),
      userAgent: userAgent(config, env),
      credentialHelpers: helperNames(config),
    };
    return { options: { ...options } };
  },
  load: () => import('./transport.js'),
  endpoint: webhookEndpoint,
};
