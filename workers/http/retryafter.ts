// Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP date. A server that says "not before"
// gets no request before then, nudges and polls alike.

/** The longest wait we accept from a server: past it, we ask again anyway (a broken clock, a typo). */
export const MAX_RETRY_AFTER_MS = 60 * 60 * 1000;

/** Milliseconds to wait, or undefined when the header is absent or unreadable. Never negative. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  let ms: number;
  if (/^\d+$/.test(text)) ms = Number(text) * 1000;
  else {
    // Only the IMF-fixdate form and its two obsolete siblings look like this; Date.parse reads all three.
    if (!/^[A-Za-z]{3},? /.test(text) && !/^[A-Za-z]+day, /.test(text)) return undefined;
    // asctime's form carries no zone but means GMT; Date.parse would read it as local time.
    const at = Date.parse(/^[A-Za-z]{3} [A-Za-z]{3} /.test(text) ? `${text} GMT` : text);
    if (Number.isNaN(at)) return undefined;
    ms = at - now;
  }
  return Math.min(Math.max(0, ms), MAX_RETRY_AFTER_MS);
}
