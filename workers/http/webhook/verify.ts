// Telling a forge's delivery from anyone else's POST. GitHub, Gitea and Forgejo sign the raw body
// (hex HMAC-SHA256 with the shared secret); GitLab sends the secret itself. Every comparison is
// constant-time: a byte-by-byte early exit would tell an attacker how much of a guess was right.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export type Forge = 'github' | 'gitlab' | 'gitea' | 'forgejo';

export interface Delivery {
  forge: Forge;
  /** The event's name as the forge spells it (`push`, `Push Hook`...). */
  event: string;
  /** The forge's id of this delivery, when it sends one: a replay carries the same. */
  id: string | undefined;
}

function one(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Which forge sent this, by its event header. Forgejo also sends Gitea's headers, and Gitea
 * GitHub's, for compatibility: the most specific one wins.
 */
export function identify(headers: IncomingHttpHeaders): Delivery | undefined {
  const forgejo = one(headers, 'x-forgejo-event');
  if (forgejo !== undefined) return { forge: 'forgejo', event: forgejo, id: one(headers, 'x-forgejo-delivery') ?? one(headers, 'x-gitea-delivery') };
  const gitea = one(headers, 'x-gitea-event');
  if (gitea !== undefined) return { forge: 'gitea', event: gitea, id: one(headers, 'x-gitea-delivery') };
  const gitlab = one(headers, 'x-gitlab-event');
  if (gitlab !== undefined) return { forge: 'gitlab', event: gitlab, id: one(headers, 'x-gitlab-event-uuid') ?? one(headers, 'idempotency-key') };
  const github = one(headers, 'x-github-event');
  if (github !== undefined) return { forge: 'github', event: github, id: one(headers, 'x-github-delivery') };
  return undefined;
}

/** A delivery's proof of the secret, checked as its body streams. */
export interface Proof {
  update(chunk: Buffer): void;
  /** After the last chunk: true when the proof covers exactly the bytes seen. */
  matches(): boolean;
}

/**
 * From the headers alone: the proof this delivery offers, or undefined when it offers none that
 * could hold (no signature, a malformed one, a wrong GitLab token). GitHub, Gitea and Forgejo sign
 * the body, so their proof is settled only by its last byte; GitLab's token is settled here.
 */
export function startProof(forge: Forge, headers: IncomingHttpHeaders, secret: string): Proof | undefined {
  if (secret === '') return undefined;
  switch (forge) {
    case 'github': {
      const header = one(headers, 'x-hub-signature-256');
      return header !== undefined && header.startsWith('sha256=') ? hmacProof(header.slice(7), secret) : undefined;
    }
    case 'gitea':
      return hmacProof(one(headers, 'x-gitea-signature'), secret);
    case 'forgejo':
      return hmacProof(one(headers, 'x-forgejo-signature') ?? one(headers, 'x-gitea-signature'), secret);
    case 'gitlab': {
      const token = one(headers, 'x-gitlab-token');
      // Hash both sides: timingSafeEqual needs equal lengths, and the length must not leak either.
      if (token === undefined || !timingSafeEqual(sha256(token), sha256(secret))) return undefined;
      return { update: () => undefined, matches: () => true };
    }
  }
}

/** True when the delivery carries proof of the shared secret for exactly this body. */
export function verify(forge: Forge, headers: IncomingHttpHeaders, body: Buffer, secret: string): boolean {
  const proof = startProof(forge, headers, secret);
  if (!proof) return false;
  proof.update(body);
  return proof.matches();
}

export function sign(body: Buffer | string, secret: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

function hmacProof(hex: string | undefined, secret: string): Proof | undefined {
  if (hex === undefined || !/^[0-9a-fA-F]{64}$/.test(hex)) return undefined;
  const claimed = Buffer.from(hex, 'hex');
  const hmac = createHmac('sha256', secret);
  let verdict: boolean | undefined;
  return {
    update: (chunk) => void hmac.update(chunk),
    matches: () => (verdict ??= timingSafeEqual(claimed, hmac.digest())),
  };
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Events that mean refs may have moved; everything else is acknowledged and ignored. */
export function isRefEvent(delivery: Delivery): boolean {
  switch (delivery.forge) {
    case 'gitlab':
      return delivery.event === 'Push Hook' || delivery.event === 'Tag Push Hook';
    default:
      return delivery.event === 'push' || delivery.event === 'create' || delivery.event === 'delete';
  }
}
