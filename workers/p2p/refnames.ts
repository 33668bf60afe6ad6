// Which ref names a peer node advertises and a notice may name. Apart from the wire module so that
// what reads only names (the coordinator's `remotedaemon.p2p.show` rules, shown.ts) does not load
// the wire's protomux and compact-encoding with it.

/** Longest ref name (or refspec, URL) taken from a peer. */
export const MAX_NAME = 1024;

/** Refs a node advertises and notices may name: branches and tags, as upload-pack shows them. */
export function advertisable(ref: unknown): ref is string {
  return (
    typeof ref === 'string' &&
    ref.length <= MAX_NAME &&
    /^refs\/(heads|tags)\/[^\0-\x20\x7f~^:?*[\\]+$/.test(ref) &&
    !ref.includes('..') &&
    !ref.includes('@{') &&
    !ref.endsWith('.lock') &&
    !ref.endsWith('/')
  );
}
