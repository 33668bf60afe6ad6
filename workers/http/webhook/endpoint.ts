// The webhook receiver as a shared endpoint: one per daemon, in a thread of its own. Remotes of the
// http transport attach with their URL and a port; a verified push for a repository nudges exactly
// the remotes whose URL names it. The receiver tells each remote whether it is listening, so that
// a remote slows its polling only while pushes really are announced.

import { statSync, readFileSync } from 'node:fs';
import type { MessagePort } from 'node:worker_threads';
import type { EndpointTask, FromEndpoint, ToEndpoint } from '../../../shared/plugin.js';
import type { FromWebhook } from '../messages.js';
import { normaliseRepoUrl } from '../urls.js';
import { BodyBudget } from './body.js';
import { admit, type Verdict } from './handler.js';
import { NudgeLimiter } from './nudges.js';
import { MAX_CONNECTIONS, startReceiver, type Receiver } from './receiver.js';
import { SeenBodies } from './replay.js';
import { readSettings, type WebhookSettings } from './settings.js';

/** The condition kind for a receiver that cannot run. */
export const WEBHOOK_CONDITION = 'webhook';

interface Attached {
  normal: string | undefined;
  port: MessagePort;
}

export default async function webhookEndpoint(task: EndpointTask): Promise<void> {
  const remotes = new Map<string, Attached>();
  const seen = new SeenBodies();
  const budget = new BodyBudget();
  const say = (message: FromEndpoint) => task.port.postMessage(message);
  let receiver: Receiver | undefined;
  let secret = '';
  // Counted, not logged one by one: anyone who can reach the port could fill the log.
  let rejected = 0;
  let replays = 0;
  let dropped = 0;

  const tell = (attached: Attached, message: FromWebhook) => attached.port.postMessage(message);
  const broadcast = () => {
    for (const attached of remotes.values()) tell(attached, { type: 'status', listening: receiver !== undefined });
  };

  const limiter = new NudgeLimiter((name, forge) => {
    const attached = remotes.get(name);
    if (attached) tell(attached, { type: 'nudge', forge });
  });

  const concluded = (verdict: Verdict) => {
    if (verdict.status === 401) {
      if (rejected++ % 100 === 0) say({ type: 'log', text: `webhook: rejected ${rejected} unsigned or badly signed deliveries so far` });
    } else if (verdict.replay) {
      if (replays++ % 100 === 0) say({ type: 'log', text: `webhook: ignored ${replays} replayed deliveries so far` });
    } else if (verdict.nudge) {
      say({ type: 'log', text: `webhook: ${verdict.nudge.forge} push for ${verdict.nudge.remotes.join(', ')}` });
      for (const name of verdict.nudge.remotes) limiter.nudge(name, verdict.nudge.forge);
    }
  };
  const context = {
    get secret() {
      return secret;
    },
    seen,
    budget,
    match: (urls: Set<string>) => [...remotes].filter(([, a]) => a.normal !== undefined && urls.has(a.normal)).map(([name]) => name),
    all: () => [...remotes.keys()],
  };
  const onDrop = () => {
    if (dropped++ % 100 === 0) say({ type: 'log', text: `webhook: closed ${dropped} connections over the limit of ${MAX_CONNECTIONS} so far` });
  };

  const start = async (settings: WebhookSettings) => {
    await receiver?.close();
    receiver = undefined;
    try {
      if (!settings.listen) return; // unusable settings: already reported by the coordinator
      secret = settings.secretFile !== undefined ? readSecretFile(settings.secretFile) : (settings.secret ?? '');
      if (secret === '') throw new Error('the webhook secret is empty');
      receiver = await startReceiver({ ...settings.listen, admit: (headers) => admit(headers, context, concluded), dropped: onDrop });
      say({ type: 'log', text: `webhook: listening on ${settings.listen.host}:${receiver.port}` });
      say({ type: 'condition', kind: WEBHOOK_CONDITION, text: null });
    } catch (err) {
      say({ type: 'condition', kind: WEBHOOK_CONDITION, text: `the webhook receiver is off: ${(err as Error).message}` });
    } finally {
      broadcast();
    }
  };

  let stopped!: () => void;
  const finished = new Promise<void>((resolve) => (stopped = resolve));
  // Messages are handled one at a time, in order: a settings change finishes before the next attach.
  let queue = Promise.resolve();
  task.port.on('message', (message: ToEndpoint) => {
    queue = queue.then(async () => {
      switch (message.type) {
        case 'attach': {
          remotes.get(message.remote)?.port.close();
          const attached: Attached = { normal: normaliseRepoUrl(message.url), port: message.port };
          remotes.set(message.remote, attached);
          message.port.on('message', (m: unknown) => {
            if ((m as { type?: unknown } | null)?.type === 'hello') tell(attached, { type: 'status', listening: receiver !== undefined });
          });
          tell(attached, { type: 'status', listening: receiver !== undefined });
          break;
        }
        case 'detach':
          limiter.forget(message.remote);
          remotes.get(message.remote)?.port.close();
          remotes.delete(message.remote);
          break;
        case 'settings':
          await start(readSettings(message.settings));
          break;
        case 'stop':
          await receiver?.close();
          receiver = undefined;
          limiter.close();
          for (const attached of remotes.values()) attached.port.close();
          remotes.clear();
          task.port.close();
          stopped();
          break;
      }
    });
  });
  await start(readSettings(task.settings));
  await finished;
}

/** The secret from a file only its owner can read: a secret others can read is no secret. */
export function readSecretFile(path: string): string {
  const stat = statSync(path);
  if ((stat.mode & 0o077) !== 0) throw new Error(`${path} is readable by others (mode ${(stat.mode & 0o777).toString(8)}); chmod 600 it`);
  return readFileSync(path, 'utf8').trim();
}
