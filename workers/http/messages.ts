// What a remote's transport and the webhook endpoint say over their link (EndpointLink / the port
// given with `attach`). Plain data only.

export type ToWebhook =
  /** The transport subscribed (after every connect): the endpoint answers with its status. */
  { type: 'hello' };

export type FromWebhook =
  /** Whether the receiver is listening: only then may polling slow to a safety net. */
  | { type: 'status'; listening: boolean }
  /** A verified push event for this remote's repository: list the refs now. */
  | { type: 'nudge'; forge: string };

export function isFromWebhook(message: unknown): message is FromWebhook {
  const type = (message as { type?: unknown } | null)?.type;
  return type === 'status' || type === 'nudge';
}
