// Shell quoting and word splitting, both directions, in one place.
//
// git's quoting (quote.c: sq_quote_buf) is what the command lines we send over ssh use: git sends
// `git-upload-pack '/path'`, quoting the path in single quotes with `'\''` for a quote and `'\!'`
// for a bang; git-annex quotes every word the same way. The server end that reads such lines, the
// restricted shell, is bin/git-remote-daemon-shell (POSIX sh, no Node).
//
// The user's own command lines (core.sshCommand, GIT_SSH_COMMAND) are written for a real shell:
// splitShellWords understands what a POSIX shell would without running one, and shellQuote writes
// words back for one.

import { userInfo } from 'node:os';

/** Quotes one word the way git does: always in single quotes (a `!` too, for csh's sake). */
export function sqQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`).replace(/!/g, `'\\!'`)}'`;
}

/** A command line that only a real shell could run (or that is not finished). */
export class ShellSyntaxError extends Error {
  override name = 'ShellSyntaxError';
}

/** Quotes one word for a POSIX shell, only when it needs it (the inverse of splitShellWords). */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : sqQuote(word);
}

/**
 * Splits a command line into words as a POSIX shell would, without running anything: quotes,
 * backslashes, `$VAR` / `${VAR}` from `env` (not field-split), and a leading `~` / `~/`. Anything that would need a real
 * shell (`;`, `|`, `&`, redirections, `$(...)`, backquotes, globs are kept literally) throws.
 */
export function splitShellWords(text: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  /** The word had quotes or literal text: it exists even if empty (`""`); a bare empty `$X` does not. */
  let solid = false;
  let i = 0;
  const home = env.HOME ?? userInfo().homedir;
  const variable = (): string => {
    // At text[i] === '$'.
    const braced = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}/.exec(text.slice(i));
    const plain = /^\$([A-Za-z_][A-Za-z0-9_]*)/.exec(text.slice(i));
    const m = braced ?? plain;
    if (!m) {
      if (text[i + 1] === '(' || text[i + 1] === '{') throw new ShellSyntaxError(`needs a shell (${text.slice(i, i + 2)}...): ${text}`);
      i++;
      return '$';
    }
    i += m[0].length;
    return env[m[1]!] ?? '';
  };
  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ' || c === '\t' || c === '\n') {
      if (inWord && (solid || word)) words.push(word);
      word = '';
      inWord = false;
      solid = false;
      i++;
      continue;
    }
    if (!inWord && c === '~' && /^~(?=\/|\s|$)/.test(text.slice(i))) {
      word = home;
      inWord = solid = true;
      i++;
      continue;
    }
    inWord = true;
    if (c !== '$') solid = true;
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new ShellSyntaxError(`unterminated ': ${text}`);
      word += text.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      i++;
      for (;;) {
        if (i >= text.length) throw new ShellSyntaxError(`unterminated ": ${text}`);
        const d = text[i]!;
        if (d === '"') {
          i++;
          break;
        }
        if (d === '\\' && i + 1 < text.length && '$`"\\\n'.includes(text[i + 1]!)) {
          if (text[i + 1] !== '\n') word += text[i + 1];
          i += 2;
        } else if (d === '$') {
          word += variable();
        } else if (d === '`') {
          throw new ShellSyntaxError(`needs a shell (backquote): ${text}`);
        } else {
          word += d;
          i++;
        }
      }
    } else if (c === '\\') {
      if (i + 1 < text.length && text[i + 1] !== '\n') word += text[i + 1];
      i += 2;
    } else if (c === '$') {
      word += variable();
    } else if (';&|<>()`'.includes(c)) {
      throw new ShellSyntaxError(`needs a shell (${c}): ${text}`);
    } else {
      word += c;
      i++;
    }
  }
  if (inWord && (solid || word)) words.push(word);
  return words;
}
