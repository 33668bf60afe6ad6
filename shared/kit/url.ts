// What kind of address a remote URL is, by git's own rules (connect.c / transport.c): the one place
// that tells a helper URL from a scheme URL, an scp-like `host:path` from a local path. Transports
// claim URLs by this kind (workers/registry.ts); none repeats the rules.

export type UrlKind =
  /** `<helper>::<address>`: git runs git-remote-<helper>; nothing the daemon can watch. */
  | { kind: 'helper'; helper: string }
  /** `<scheme>://...`, scheme lower-cased (`file`, `ssh`, `https`, `git`...). */
  | { kind: 'scheme'; scheme: string }
  /** scp-like `[user@]host:path`: a colon before any slash (a `[...]` host may hold colons). */
  | { kind: 'scp' }
  /** Everything else is a path on this machine. */
  | { kind: 'path' };

export function urlKind(url: string): UrlKind {
  const helper = /^([A-Za-z][A-Za-z0-9+.-]*)::/.exec(url);
  if (helper) return { kind: 'helper', helper: helper[1] };
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url);
  if (scheme) return { kind: 'scheme', scheme: scheme[1].toLowerCase() };
  const colon = url.indexOf(':', bracketEnd(url));
  const slash = url.indexOf('/');
  if (colon > 0 && (slash < 0 || colon < slash)) return { kind: 'scp' };
  return { kind: 'path' };
}

/** Schemes git runs ssh for (connect.c). */
export const SSH_SCHEMES: readonly string[] = ['ssh', 'git+ssh', 'ssh+git'];

/** Index just past a `[...]` host (after an optional `user@`), or 0: colons inside do not count. */
export function bracketEnd(text: string): number {
  const at = text.indexOf('@[');
  const start = at >= 0 ? at + 1 : 0;
  if (text[start] !== '[') return 0;
  const close = text.indexOf(']', start);
  return close < 0 ? 0 : close + 1;
}
