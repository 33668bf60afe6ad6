// What to do with one delivery: from its headers, refuse it at once or decide where its body goes;
// once the body has streamed, verify, dedupe, find the remotes it is about. Pure apart from the
// replay memory and the body budget, so every answer can be tested without a socket.

import type { IncomingHttpHeaders } from 'node:http';
import { BodyBudget, StreamedBody, type ReadBody } from './body.js';
import { parsePayload, repositoryUrls } from './payload.js';
import type { Intake, Reply } from './receiver.js';
import type { SeenBodies } from './replay.js';
import { identify, isRefEvent, startProof, type Delivery, type Forge } from './verify.js';

export interface Verdict extends Reply {
  /** The remotes to nudge (names), and who sent the event. */
  nudge?: { remotes: string[]; forge: Forge };
  /** A verified body seen before. */
  replay?: true;
}

export interface HandlerContext {
  secret: string;
  seen: SeenBodies;
  budget: BodyBudget;
  /** Names of attached remotes whose normalised URL is one of `urls`. */
  match(urls: Set<string>): string[];
  /** Names of every attached remote. */
  all(): string[];
}

const UNSIGNED: Verdict = { status: 401, text: 'bad or missing signature\n' };

/**
 * From the headers alone: 401 when the delivery offers no proof that could hold (nothing of its
 * body is read), else an intake that hashes the body as it streams and answers at its end.
 */
export function admit(headers: IncomingHttpHeaders, context: HandlerContext, done: (verdict: Verdict) => void = () => undefined): Verdict | Intake {
  const delivery = identify(headers);
  const proof = delivery && startProof(delivery.forge, headers, context.secret);
  if (!delivery || !proof) {
    done(UNSIGNED);
    return UNSIGNED;
  }
  // Only a push's payload is ever read; any other event's body is only hashed.
  const body = new StreamedBody(proof, context.budget, isRefEvent(delivery) ? undefined : 0);
  return {
    write: (chunk) => body.write(chunk),
    end: () => {
      const verdict = conclude(delivery, body.finish(), single(headers['content-type']), context);
      done(verdict);
      return verdict;
    },
    abort: () => body.release(),
  };
}

export function conclude(delivery: Delivery, body: ReadBody, contentType: string | undefined, context: HandlerContext): Verdict {
  // Unsigned or wrongly signed: say nothing more (which repositories exist here is not public).
  if (!body.verified) return UNSIGNED;
  if (delivery.event === 'ping') return { status: 200, text: 'pong\n' };
  if (!isRefEvent(delivery)) return { status: 202, text: `ignored: ${delivery.event.slice(0, 60)} is not a push\n` };
  if (context.seen.has(body.digest)) return { status: 200, text: 'already delivered\n', replay: true };
  let remotes: string[];
  if (body.kept !== undefined) {
    let payload: unknown;
    try {
      payload = parsePayload(body.kept, contentType);
    } catch {
      return { status: 400, text: 'the payload is not JSON\n' };
    }
    remotes = context.match(repositoryUrls(payload));
  } else {
    // Verified, but over the kept cap (or read while the budget was spent): which repository it
    // names is unknown, and the sender holds the secret. Every remote lists (rate-limited).
    remotes = context.all();
  }
  if (remotes.length === 0) return { status: 404, text: 'no remote here for that repository\n' };
  // Only now: a delivery for a remote not yet attached may come again and must then count.
  context.seen.add(body.digest);
  return { status: 202, text: `nudged ${remotes.length}\n`, nudge: { remotes, forge: delivery.forge } };
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
