// Object ids as git writes them: 40 hex digits (SHA-1) or 64 (SHA-256), in lower case.

export const OBJECT_ID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/** A deleted ref, where a value is expected: all zeros, git's own convention (hooks, reflogs). */
export const DELETED = '0'.repeat(40);

export function isDeleted(id: string): boolean {
  return /^0+$/.test(id);
}
