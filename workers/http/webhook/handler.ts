// What to do with one delivery: from its headers, refuse it at once or decide where its body goes;
// once the body has streamed, verify, dedupe, find the remotes it is about. Pure apart from the
// replay memory and the body budget, so every answer can be tested without a socket.
//
// A receiver may serve repositories with secrets of their own (the shared daemon's, one secret per
// forge repository): a delivery is checked against each distinct secret of the attached remotes
// (at most MAX_SECRETS, each an HMAC over the same streamed bytes), and only remotes whose
// repository's secret it proves are nudged. Holding A's secret gets a sender nothing in B: B's
// remotes are not among the candidates, so a push signed by A naming B's repository is the same
// 404 as one naming a repository this daemon has never heard of.

import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { BodyBudget, StreamedBody, type ReadBody } from './body.js';
import { parsePayload, repositoryUrls } from './payload.js';
import type { Intake, Reply } from './receiver.js';
import type { SeenBodies } from './replay.js';
import { identify, isRefEvent, startProof, type Delivery, type Forge, type Proof } from './verify.js';
import { MAX_SECRETS } from './settings.js';

export interface Verdict extends Reply {
  /** The remotes to nudge (names), and who sent the event. */
  nudge?: { remotes: string[]; forge: Forge };
  /** A verified body seen before. */
  replay?: true;
}

export interface HandlerContext {
  /** The distinct secrets of the attached remotes' repositories: what a delivery may prove. */
  secrets(): readonly string[];
  seen: SeenBodies;
  budget: BodyBudget;
  /** Names of attached remotes whose repository's secret is `secret` and whose normalised URL is one of `urls`. */
  match(urls: Set<string>, secret: string): string[];
  /** Names of every attached remote whose repository's secret is `secret`. */
  all(secret: string): string[];
}

const UNSIGNED: Verdict = { status: 401, text: 'bad or missing signature\n' };

/**
 * From the headers alone: 401 when the delivery offers no proof that could hold (nothing of its
 * body is read), else an intake that hashes the body as it streams and answers at its end.
 */
export function admit(headers: IncomingHttpHeaders, context: HandlerContext, done: (verdict: Verdict) => void = () => undefined): Verdict | Intake {
  const delivery = identify(headers);
  const proofs: { secret: string; proof: Proof }[] = [];
  if (delivery) {
    for (const secret of new Set(context.secrets().slice(0, MAX_SECRETS))) {
      const proof = startProof(delivery.forge, headers, secret);
      if (proof) proofs.push({ secret, proof });
    }
  }
  if (!delivery || proofs.length === 0) {
    done(UNSIGNED);
    return UNSIGNED;
  }
  // Only a push's payload is ever read; any other event's body is only hashed.
  const proof = anyOf(proofs);
  const body = new StreamedBody(proof, context.budget, isRefEvent(delivery) ? undefined : 0);
  return {
    write: (chunk) => body.write(chunk),
    end: () => {
      const verdict = conclude(delivery, { ...body.finish(), secrets: proof.secrets() }, single(headers['content-type']), context);
      done(verdict);
      return verdict;
    },
    abort: () => body.release(),
  };
}

/**
 * The proof of any of the secrets: every chunk goes to each; it matches when one does, and
 * `secrets` then says which (all of them are settled by then, none skipped: no early exit).
 */
function anyOf(proofs: { secret: string; proof: Proof }[]): Proof & { secrets(): string[] } {
  let proven: string[] | undefined;
  const secrets = () => (proven ??= proofs.filter((p) => p.proof.matches()).map((p) => p.secret));
  return {
    update: (chunk) => proofs.forEach((p) => p.proof.update(chunk)),
    matches: () => secrets().length > 0,
    secrets,
  };
}

/** What the replay memory keeps of a body acted on for the repositories of `secret`. */
function replayKey(secret: string, digest: string): string {
  return `${createHash('sha256').update(secret).digest('base64').slice(0, 16)} ${digest}`;
}

export function conclude(delivery: Delivery, body: ReadBody, contentType: string | undefined, context: HandlerContext): Verdict {
  // Unsigned or wrongly signed: say nothing more (which repositories exist here is not public).
  if (!body.verified) return UNSIGNED;
  if (delivery.event === 'ping') return { status: 200, text: 'pong\n' };
  if (!isRefEvent(delivery)) return { status: 202, text: `ignored: ${delivery.event.slice(0, 60)} is not a push\n` };
  // Remembered per secret: a body acted on for A's repositories is a replay for them, and never
  // counts for B's (whose secret it does not prove anyway).
  const fresh = (body.secrets ?? []).filter((secret) => !context.seen.has(replayKey(secret, body.digest)));
  if (fresh.length === 0) return { status: 200, text: 'already delivered\n', replay: true };
  let pick: (secret: string) => string[];
  if (body.kept !== undefined) {
    let payload: unknown;
    try {
      payload = parsePayload(body.kept, contentType);
    } catch {
      return { status: 400, text: 'the payload is not JSON\n' };
    }
    const urls = repositoryUrls(payload);
    pick = (secret) => context.match(urls, secret);
  } else {
    // Verified, but over the kept cap (or read while the budget was spent): which repository it
    // names is unknown, and the sender holds the secret. Every remote of its secret lists (rate-limited).
    pick = (secret) => context.all(secret);
  }
  const remotes: string[] = [];
  for (const secret of fresh) {
    const picked = pick(secret);
    if (picked.length === 0) continue;
    remotes.push(...picked);
    // Only now: a delivery for a remote not yet attached may come again and must then count.
    context.seen.add(replayKey(secret, body.digest));
  }
  if (remotes.length === 0) return { status: 404, text: 'no remote here for that repository\n' };
  return { status: 202, text: `nudged ${remotes.length}\n`, nudge: { remotes, forge: delivery.forge } };
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
