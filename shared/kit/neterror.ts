// A network error as a person reads it: the system's reason in words ("connection refused", "no
// such host"), then where, with the error code for searching. Node's own messages
// ("connect ECONNREFUSED 127.0.0.1:5222", "getaddrinfo ENOTFOUND example.invalid") name the code
// only, and an endpoint that reports only "the connection ended" names nothing at all.

const REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'the name server did not answer',
  EAI_FAIL: 'the name server failed',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'no route to host',
  EHOSTDOWN: 'host is down',
  ENETUNREACH: 'network is unreachable',
  ENETDOWN: 'network is down',
  ECONNRESET: 'connection reset',
  ECONNABORTED: 'connection aborted',
  EPIPE: 'connection closed by the other end',
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available',
  EACCES: 'permission denied',
};

/** "connection refused (ECONNREFUSED 127.0.0.1:5222)", or undefined when `err` is no system error we know. */
export function describeNetError(err: unknown): string | undefined {
  const e = err as (Error & { code?: unknown; address?: unknown; port?: unknown; hostname?: unknown }) | undefined;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const reason = code !== undefined ? REASONS[code] : undefined;
  if (!reason) return undefined;
  let where = '';
  if (typeof e?.hostname === 'string') where = ` ${e.hostname}`;
  else if (typeof e?.address === 'string') where = ` ${e.address}${typeof e.port === 'number' ? `:${e.port}` : ''}`;
  return `${reason} (${code}${where})`;
}
