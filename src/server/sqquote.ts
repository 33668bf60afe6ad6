// Single-quote quoting as git does it (quote.c: sq_quote_buf / sq_dequote_to_argv), for the command
// lines that arrive over ssh. git sends `git-upload-pack '/path'`, quoting the path in single quotes
// with `'\''` for a quote and `'\!'` for a bang; git-annex quotes every word the same way.
//
// The splitter is deliberately narrower than a shell: a word is either a run of plainly safe
// characters or single-quoted text (with those two escapes). Anything a shell would treat
// specially outside quotes (; | & $ ` ( ) < > * ? [ ] { } " \ # newlines, tabs...) is an error,
// never a separator or an expansion.

export type SplitResult = { ok: true; words: string[] } | { ok: false; error: string };

/** Characters that need no quoting in any POSIX shell context. */
const SAFE = /^[A-Za-z0-9_./~+=:@,%^-]$/;

/** Quotes one word the way git does: always in single quotes. */
export function sqQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`).replace(/!/g, `'\\!'`)}'`;
}

/** Splits a command line into words; words are separated by exactly one space. Never throws. */
export function splitCommandLine(line: string): SplitResult {
  const control = /[\x00-\x1f\x7f]/.exec(line);
  if (control) return { ok: false, error: `control character ${describeChar(control[0])} in command` };
  const words: string[] = [];
  let i = 0;
  if (line.length === 0) return { ok: true, words };
  for (;;) {
    if (line[i] === ' ' || i === line.length) return { ok: false, error: 'stray space in command' };
    let word = '';
    if (line[i] === "'") {
      // Quoted: runs to the closing quote; `'\''` and `'\!'` continue it (git's need_bs_quote()).
      i++;
      for (;;) {
        if (i >= line.length) return { ok: false, error: 'unterminated quote' };
        const c = line[i]!;
        if (c !== "'") {
          word += c;
          i++;
          continue;
        }
        if (line[i + 1] === '\\' && (line[i + 2] === "'" || line[i + 2] === '!') && line[i + 3] === "'") {
          word += line[i + 2];
          i += 4;
          continue;
        }
        i++;
        break;
      }
    } else {
      while (i < line.length && line[i] !== ' ') {
        const c = line[i]!;
        if (!SAFE.test(c)) return { ok: false, error: `shell metacharacter ${describeChar(c)} in command` };
        word += c;
        i++;
      }
    }
    words.push(word);
    if (i === line.length) return { ok: true, words };
    if (line[i] !== ' ') return { ok: false, error: `unexpected ${describeChar(line[i]!)} after a quoted word` };
    i++;
  }
}

function describeChar(c: string): string {
  const code = c.codePointAt(0)!;
  return code < 0x20 || code === 0x7f ? `0x${code.toString(16).padStart(2, '0')}` : JSON.stringify(c);
}
