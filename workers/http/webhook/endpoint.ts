// The webhook receiver as a shared endpoint: one per address in the process, in a thread of its own
// (the shared daemon's repositories that listen on one address with one secret share it, their
// remotes' names qualified by repository). Remotes of the http transport attach with their URL and
// a port; a verified push for a repository nudges exactly the remotes whose URL names it. The receiver tells each remote whether it is listening, so that
// a remote slows its polling only while pushes really are announced.

import { statSync, readFileSync } from 'node:fs';
import type { EndpointTask } from '../../../shared/plugin.js';
import { EndpointLoop } from '../../endpointloop.js';
import type { FromWebhook } from '../messages.js';
import { normaliseRepoUrl } from '../urls.js';
import { BodyBudget } from './body.js';
import { admit, type HandlerContext, type Verdict } from './handler.js';
import { NudgeLimiter } from './nudges.js';
import { MAX_CONNECTIONS, startReceiver, type Receiver } from './receiver.js';
import { SeenBodies } from './replay.js';
import { readSettings, type WebhookSettings } from './settings.js';

/** The condition kind for a receiver that cannot run. */
export const WEBHOOK_CONDITION = 'webhook';

/** What the receiver keeps of a remote: the repository its URL names, if any. */
type RepoLink = string | undefined;

export default async function webhookEndpoint(task: EndpointTask): Promise<void> {
  let settings = readSettings(task.settings);
  let receiver: Receiver | undefined;
  const status = (): FromWebhook => ({ type: 'status', listening: receiver !== undefined });
  const limiter = new NudgeLimiter((name, forge) => loop.get(name)?.tell({ type: 'nudge', forge } satisfies FromWebhook));
  const loop: EndpointLoop<RepoLink> = new EndpointLoop(task.port, {
    carrier: {
      start: async () => {
        receiver = await listen(settings, loop, handler);
        loop.tell(status());
      },
      stop: async () => {
        await receiver?.close();
        receiver = undefined;
      },
    },
    link: (_, url) => normaliseRepoUrl(url),
    attached: (remote) => remote.tell(status()),
    heard: (remote, m) => {
      if ((m as { type?: unknown } | null)?.type === 'hello') remote.tell(status());
    },
    detached: (remote) => limiter.forget(remote),
    // Messages are handled one at a time, in order: a settings change finishes before the next attach.
    settings: (next) => {
      settings = readSettings(next);
      return loop.restart();
    },
    stopped: () => limiter.close(),
  });
  const handler = deliveries(loop, limiter);
  await loop.run();
}

/** How deliveries are judged and what they cause, for every receiver this endpoint runs. */
interface Deliveries {
  context: HandlerContext;
  concluded(verdict: Verdict): void;
  dropped(): void;
}

function deliveries(loop: EndpointLoop<RepoLink>, limiter: NudgeLimiter): Deliveries {
  // Counted, not logged one by one: anyone who can reach the port could fill the log.
  let rejected = 0;
  let replays = 0;
  let dropped = 0;
  const log = (text: string) => loop.log(text);
  return {
    context: {
      secret: '',
      seen: new SeenBodies(),
      budget: new BodyBudget(),
      match: (urls: Set<string>) => loop.attached.filter((r) => r.link !== undefined && urls.has(r.link)).map((r) => r.name),
      all: () => loop.attached.map((r) => r.name),
    },
    concluded(verdict) {
      if (verdict.status === 401) {
        if (rejected++ % 100 === 0) log(`webhook: rejected ${rejected} unsigned or badly signed deliveries so far`);
      } else if (verdict.replay) {
        if (replays++ % 100 === 0) log(`webhook: ignored ${replays} replayed deliveries so far`);
      } else if (verdict.nudge) {
        log(`webhook: ${verdict.nudge.forge} push for ${verdict.nudge.remotes.join(', ')}`);
        for (const name of verdict.nudge.remotes) limiter.nudge(name, verdict.nudge.forge);
      }
    },
    dropped() {
      if (dropped++ % 100 === 0) log(`webhook: closed ${dropped} connections over the limit of ${MAX_CONNECTIONS} so far`);
    },
  };
}

/** The receiver `settings` ask for; none when it cannot run (said as a condition). */
async function listen(settings: WebhookSettings, loop: EndpointLoop<RepoLink>, handler: Deliveries): Promise<Receiver | undefined> {
  if (!settings.listen) return undefined; // unusable settings: already reported by the coordinator
  try {
    handler.context.secret = settings.secretFile !== undefined ? readSecretFile(settings.secretFile) : (settings.secret ?? '');
    if (handler.context.secret === '') throw new Error('the webhook secret is empty');
    const receiver = await startReceiver({
      ...settings.listen,
      admit: (headers) => admit(headers, handler.context, (verdict) => handler.concluded(verdict)),
      dropped: () => handler.dropped(),
    });
    loop.log(`webhook: listening on ${settings.listen.host}:${receiver.port}`);
    loop.say({ type: 'condition', kind: WEBHOOK_CONDITION, text: null });
    return receiver;
  } catch (err) {
    loop.say({ type: 'condition', kind: WEBHOOK_CONDITION, text: `the webhook receiver is off: ${(err as Error).message}` });
    return undefined;
  }
}

/** The secret from a file only its owner can read: a secret others can read is no secret. */
export function readSecretFile(path: string): string {
  const stat = statSync(path);
  if ((stat.mode & 0o077) !== 0) throw new Error(`${path} is readable by others (mode ${(stat.mode & 0o777).toString(8)}); chmod 600 it`);
  return readFileSync(path, 'utf8').trim();
}
