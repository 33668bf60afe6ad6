// The webhook receiver as a shared endpoint: one per address in the process, in a thread of its own
// (the shared daemon's repositories that listen on one address share it, their remotes' names
// qualified by repository). Remotes of the http transport attach with their URL, a port and their
// repository's secret (`own`; a receiver run with a secret in its settings, as tests do, uses that
// for remotes that bring none); a push proven with a repository's secret nudges exactly that
// repository's remotes whose URL it names. The receiver tells each remote whether it is listening,
// so that a remote slows its polling only while pushes really are announced.

import type { EndpointTask } from '../../../shared/plugin.js';
import { EndpointLoop, type Attached } from '../../endpointloop.js';
import type { FromWebhook } from '../messages.js';
import { normaliseRepoUrl } from '../urls.js';
import { BodyBudget } from './body.js';
import { admit, type HandlerContext, type Verdict } from './handler.js';
import { NudgeLimiter } from './nudges.js';
import { MAX_CONNECTIONS, startReceiver, type Receiver } from './receiver.js';
import { SeenBodies } from './replay.js';
import { readSettings, settingsSecret, type WebhookSettings } from './settings.js';

/** The condition kind for a receiver that cannot run. */
export const WEBHOOK_CONDITION = 'webhook';

/** What the receiver keeps of a remote: the repository its URL names, if any, and its repository's secret. */
interface RepoLink {
  repo: string | undefined;
  secret: string | undefined;
}

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
    link: (_, url, own) => ({ repo: normaliseRepoUrl(url), secret: typeof own?.secret === 'string' && own.secret !== '' ? own.secret : undefined }),
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
  /** The secret of remotes that bring none of their own (a receiver run with one in its settings). */
  setFallback(secret: string | undefined): void;
  concluded(verdict: Verdict): void;
  dropped(): void;
}

function deliveries(loop: EndpointLoop<RepoLink>, limiter: NudgeLimiter): Deliveries {
  // Counted, not logged one by one: anyone who can reach the port could fill the log.
  let rejected = 0;
  let replays = 0;
  let dropped = 0;
  const log = (text: string) => loop.log(text);
  let fallback: string | undefined;
  const secretOf = (r: Attached<RepoLink>) => r.link.secret ?? fallback;
  return {
    setFallback: (secret) => (fallback = secret),
    context: {
      // The settings' secret even with no remote attached: a push for no remote is then 404, as
      // it always was; a repository's own secret counts while a remote of it is attached.
      secrets: () => [...new Set([...loop.attached.map(secretOf), fallback].filter((s): s is string => s !== undefined))],
      seen: new SeenBodies(),
      budget: new BodyBudget(),
      match: (urls, secret) => loop.attached.filter((r) => secretOf(r) === secret && r.link.repo !== undefined && urls.has(r.link.repo)).map((r) => r.name),
      all: (secret) => loop.attached.filter((r) => secretOf(r) === secret).map((r) => r.name),
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
    // The daemon gives each remote its repository's secret; one in the settings serves the rest.
    handler.setFallback(settingsSecret(settings));
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
