// Which refs a poll needs to see: the source sides of the remote's fetch refspecs, as ls-refs
// `ref-prefix`es. Asking for less makes an idle poll cheap for the server (a repository with
// thousands of tags answers a heads-only listing in a few dozen bytes).

/** git's ref_rev_parse_rules: where a short name such as `main` may live (expand_ref_prefix). */
const SHORT_NAME_RULES = ['%s', 'refs/%s', 'refs/tags/%s', 'refs/heads/%s', 'refs/remotes/%s', 'refs/remotes/%s/HEAD'];

/** An empty list means every ref (no `ref-prefix` at all). */
export function refPrefixes(fetchRefspecs: readonly string[], followTags: boolean | undefined): string[] {
  const prefixes = new Set<string>();
  for (let spec of fetchRefspecs) {
    if (spec.startsWith('^')) continue; // a negative refspec only narrows what the others fetch
    if (spec.startsWith('+')) spec = spec.slice(1);
    const colon = spec.indexOf(':');
    const source = colon >= 0 ? spec.slice(0, colon) : spec;
    if (source === '' || /^[0-9a-f]{40}$|^[0-9a-f]{64}$/.test(source)) continue; // an object id is not a ref
    const star = source.indexOf('*');
    const stem = star >= 0 ? source.slice(0, star) : source;
    if (stem === '') return []; // `*:...` fetches every ref: ask for all of them
    if (stem.startsWith('refs/') || stem === 'HEAD') prefixes.add(stem);
    else for (const rule of SHORT_NAME_RULES) prefixes.add(rule.replace('%s', stem));
  }
  // No refspec at all: `git fetch <remote>` fetches the remote's HEAD.
  if (prefixes.size === 0) prefixes.add('HEAD');
  if (followTags) prefixes.add('refs/tags/');
  return [...minimal(prefixes)];
}

/** Drops prefixes another one already covers (`refs/heads/` covers `refs/heads/main`). */
function minimal(prefixes: Set<string>): string[] {
  const sorted = [...prefixes].sort();
  return sorted.filter((p) => !sorted.some((q) => q !== p && p.startsWith(q)));
}

/** Keeps the refs a listing was asked for: servers may send more (ref-prefix is only a hint). */
export function underPrefixes(refs: Map<string, string>, prefixes: readonly string[]): Map<string, string> {
  if (prefixes.length === 0) return refs;
  const kept = new Map<string, string>();
  for (const [name, oid] of refs) if (prefixes.some((p) => name.startsWith(p))) kept.set(name, oid);
  return kept;
}
