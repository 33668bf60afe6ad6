// Fetch refspecs, as far as the daemon needs them: which remote refs a `git fetch <remote>` would
// take, and which local ref each lands in. Follows git's rules: an optional leading `+`, at most
// one `*` on each side, `^` for negative refspecs, and a missing destination meaning "fetch but
// store nowhere but FETCH_HEAD".

export interface Refspec {
  src: string;
  /** Undefined: fetched, but no ref is updated. */
  dst?: string;
  negative: boolean;
}

export function parseRefspec(text: string): Refspec | undefined {
  let spec = text.trim();
  if (spec.startsWith('^')) {
    const src = spec.slice(1);
    return src && !src.includes(':') ? { src, negative: true } : undefined;
  }
  if (spec.startsWith('+')) spec = spec.slice(1);
  const colon = spec.indexOf(':');
  const src = colon < 0 ? spec : spec.slice(0, colon);
  const dst = colon < 0 ? undefined : spec.slice(colon + 1) || undefined;
  if (!src) return undefined;
  const stars = (s: string) => s.split('*').length - 1;
  if (stars(src) > 1 || (dst !== undefined && stars(src) !== stars(dst))) return undefined;
  return { src, dst, negative: false };
}

/** Matches `ref` against a pattern with at most one `*`; returns what `*` stood for, or null. */
export function matchPattern(pattern: string, ref: string): string | null {
  const star = pattern.indexOf('*');
  if (star < 0) return pattern === ref || expandsTo(pattern, ref) ? '' : null;
  const prefix = pattern.slice(0, star);
  const suffix = pattern.slice(star + 1);
  if (ref.length < prefix.length + suffix.length || !ref.startsWith(prefix) || !ref.endsWith(suffix)) return null;
  return ref.slice(prefix.length, ref.length - suffix.length);
}

/** git lets a non-pattern source be abbreviated (`main` means `refs/heads/main`, among others). */
function expandsTo(short: string, ref: string): boolean {
  if (short.startsWith('refs/')) return false;
  return ['refs/', 'refs/tags/', 'refs/heads/', 'refs/remotes/'].some((p) => p + short === ref) || ref === `refs/remotes/${short}/HEAD`;
}

export class FetchRefspecs {
  private readonly positive: Refspec[];
  private readonly negative: Refspec[];

  constructor(specs: string[]) {
    const parsed = specs.map(parseRefspec).filter((s): s is Refspec => s !== undefined);
    this.positive = parsed.filter((s) => !s.negative);
    this.negative = parsed.filter((s) => s.negative);
  }

  /**
   * Where a fetch would store remote ref `ref`: the local ref name, `null` when it is fetched but
   * stored nowhere, or `undefined` when the refspecs do not take it at all.
   */
  destination(ref: string): string | null | undefined {
    if (this.negative.some((n) => matchPattern(n.src, ref) !== null)) return undefined;
    for (const spec of this.positive) {
      const star = matchPattern(spec.src, ref);
      if (star === null) continue;
      if (spec.dst === undefined) return null;
      return spec.dst.includes('*') ? spec.dst.replace('*', star) : spec.dst;
    }
    return undefined;
  }

  /** True when a fetch may write local ref `ref`. */
  isDestination(ref: string): boolean {
    return this.positive.some((s) => s.dst !== undefined && matchPattern(s.dst, ref) !== null && !expandsTo(s.dst, ref));
  }

  /** True when some refspec takes refs but stores them nowhere (only in FETCH_HEAD). */
  hasNoDestination(): boolean {
    return this.positive.some((s) => s.dst === undefined);
  }

  /** Every local ref prefix a fetch may write (for reading the tracking refs in one go). */
  destinationPrefixes(): string[] {
    return this.positive.filter((s) => s.dst !== undefined).map((s) => {
      const dst = s.dst as string;
      const star = dst.indexOf('*');
      return star < 0 ? dst : dst.slice(0, dst.lastIndexOf('/', star) + 1);
    });
  }
}
