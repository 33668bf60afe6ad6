// Object ids as git writes them: 40 hex digits (SHA-1) or 64 (SHA-256), in lower case. The one
// place that knows both lengths.

export const OBJECT_ID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/** The all-zero id of the same hash as `id` (git's "no object" in hooks and reflogs). */
export function zeroIdLike(id: string): string {
  return '0'.repeat(id.length === 64 ? 64 : 40);
}

export function isDeleted(id: string): boolean {
  return /^0+$/.test(id);
}
