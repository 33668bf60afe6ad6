// What to do with one delivery, once its body is read: verify, dedupe, find the remotes it is about.
// Pure apart from the replay memory, so every answer can be tested without a socket.

import type { IncomingHttpHeaders } from 'node:http';
import { parsePayload, repositoryUrls } from './payload.js';
import type { SeenDeliveries } from './replay.js';
import { identify, isRefEvent, verify, type Forge } from './verify.js';

export interface Verdict {
  status: number;
  text: string;
  /** The remotes to nudge (names), and who sent the event. */
  nudge?: { remotes: string[]; forge: Forge };
}

export interface HandlerContext {
  secret: string;
  seen: SeenDeliveries;
  /** Names of attached remotes whose normalised URL is one of `urls`. */
  match(urls: Set<string>): string[];
}

export function handleDelivery(headers: IncomingHttpHeaders, body: Buffer, context: HandlerContext): Verdict {
  const delivery = identify(headers);
  // Unsigned or wrongly signed: say nothing more (which repositories exist here is not public).
  if (!delivery || !verify(delivery.forge, headers, body, context.secret)) return { status: 401, text: 'bad or missing signature\n' };
  if (delivery.event === 'ping') return { status: 200, text: 'pong\n' };
  if (!isRefEvent(delivery)) return { status: 202, text: `ignored: ${delivery.event.slice(0, 60)} is not a push\n` };
  const key = delivery.id !== undefined ? `${delivery.forge}:${delivery.id}` : undefined;
  if (key !== undefined && context.seen.has(key)) return { status: 200, text: 'already delivered\n' };
  let payload: unknown;
  try {
    payload = parsePayload(body, single(headers['content-type']));
  } catch {
    return { status: 400, text: 'the payload is not JSON\n' };
  }
  const remotes = context.match(repositoryUrls(payload));
  if (remotes.length === 0) return { status: 404, text: 'no remote here for that repository\n' };
  // Only now: a delivery for a remote not yet attached may come again and must then count.
  if (key !== undefined) context.seen.add(key);
  return { status: 202, text: `nudged ${remotes.length}\n`, nudge: { remotes, forge: delivery.forge } };
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
