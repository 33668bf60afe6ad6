// What the server relays to us is read here before @xmpp/client's parser sees it, one top-level
// element (stanza or nonza) at a time. Anyone with an XMPP account can address our full JID, and
// the parser keeps a whole element in memory until it ends, so:
// - a stanza from a sender we do not trust is skipped as it streams past, whatever its size: it
//   is never held, never parsed into a tree, never answered, and the session goes on;
// - any other element is held until it ends, up to `maxChars`; a longer one is skipped too.
// What is skipped is reported (the account counts skipped stanzas for stream management, which
// must acknowledge every stanza the server sent, and says in the log how many it skipped).
//
// Only what XMPP streams may carry is tracked: tags with quoted attributes, text, CDATA sections,
// and (forbidden in XMPP, but skipped rather than misread) comments, processing instructions and
// declarations. Well-formedness stays the real parser's business.

export interface Skipped {
  /** The element's name as written (`message`, `presence`, `iq`, ...); undefined if its start tag was never complete. */
  name: string | undefined;
  /** Its `from` attribute as written, at most 200 characters. */
  from: string | undefined;
  why: 'untrusted' | 'oversize';
}

export interface StanzaFilterEvents {
  /** Text for the real parser: whole elements, and what lies between them. */
  deliver(text: string): void;
  skipped(element: Skipped): void;
  /** The stream's own header or the text between elements went past `maxChars`: no XMPP server sends that. */
  tooLarge(): void;
}

/** Stanzas are the elements that have a sender; everything else comes from the server itself. */
export const STANZAS = new Set(['message', 'presence', 'iq']);

type Mode = 'text' | 'open' | 'tag' | 'quote' | 'bang' | 'cdata' | 'comment' | 'pi' | 'decl';

export class StanzaFilter {
  private mode: Mode = 'text';
  /** Open elements, counting the stream's root. */
  private depth = 0;
  private quote = '';
  private endTag = false;
  /** The last character of the tag being read outside quotes: `/` before `>` makes it self-closing. */
  private lastInTag = '';
  /** After `<!`: what follows, until it says CDATA, comment or something else. */
  private bang = '';
  /** The two characters before the current chunk, for terminators split across chunks. */
  private tail = '';
  /** Text handed on since the last tag ended outside a top-level element. */
  private loose = 0;
  /** The top-level element being read, if any. */
  private element: { parts: string[]; size: number; keep: boolean | undefined; name?: string; from?: string; why?: Skipped['why'] } | undefined;

  constructor(
    /** Whether to let an element through, from its start tag (name and `from` as written). */
    private readonly admit: (name: string, from: string | undefined) => boolean,
    private readonly maxChars: number,
    private readonly events: StanzaFilterEvents,
  ) {}

  push(data: string): void {
    /** Where the part of `data` not yet handed on or buffered starts. */
    let from = 0;
    for (let i = 0; i < data.length; i++) {
      // Fast-forward through runs that cannot change the state.
      i = this.nextThatMatters(data, i);
      if (i < 0) break;
      const c = data[i]!;
      switch (this.mode) {
        case 'text':
          // c is '<'
          if (this.depth === 1 && !this.element) {
            this.handOn(data.slice(from, i));
            from = i;
            this.element = { parts: [], size: 0, keep: undefined };
          }
          this.mode = 'open';
          break;
        case 'open':
          if (c === '/') {
            this.startTag(true);
          } else if (c === '!') {
            this.mode = 'bang';
            this.bang = '';
          } else if (c === '?') {
            this.mode = 'pi';
          } else {
            this.startTag(false);
            this.lastInTag = c;
          }
          break;
        case 'bang':
          this.bang += c;
          if (this.bang === '--') this.mode = 'comment';
          else if (this.bang === '[CDATA[') this.mode = 'cdata';
          else if (!'--'.startsWith(this.bang) && !'[CDATA['.startsWith(this.bang)) this.mode = c === '>' ? 'text' : 'decl';
          break;
        case 'tag':
          if (c === '"' || c === "'") {
            this.mode = 'quote';
            this.quote = c;
          } else if (c === '>') {
            const ended = this.tagEnded(data, from, i);
            if (ended !== undefined) from = ended;
          } else if (c > ' ') {
            this.lastInTag = c;
          }
          break;
        case 'quote':
          this.mode = 'tag';
          this.lastInTag = c;
          break;
        case 'cdata':
          if (this.before(data, i, 2) === ']]') this.mode = 'text';
          break;
        case 'comment':
          if (this.before(data, i, 2) === '--') this.mode = 'text';
          break;
        case 'pi':
          if (this.before(data, i, 1) === '?') this.mode = 'text';
          break;
        case 'decl':
          this.mode = 'text';
          break;
      }
    }
    // The rest of the chunk: buffered or dropped inside an element, handed on outside one.
    const rest = data.slice(from);
    if (this.element) this.hold(rest);
    else this.handOn(rest);
    this.tail = (this.tail + data).slice(-2);
  }

  /** The first character from `i` on that can change the state in this mode; -1: none in `data`. */
  private nextThatMatters(data: string, i: number): number {
    switch (this.mode) {
      case 'text':
        return data.indexOf('<', i);
      case 'quote':
        return data.indexOf(this.quote, i);
      case 'cdata':
      case 'comment':
      case 'pi':
      case 'decl':
        return data.indexOf('>', i);
      default:
        return i;
    }
  }

  private startTag(endTag: boolean): void {
    this.mode = 'tag';
    this.endTag = endTag;
    this.lastInTag = '';
  }

  /** A tag ended at `i`; returns where the unhandled part of `data` now starts, if that moved. */
  private tagEnded(data: string, from: number, i: number): number | undefined {
    this.mode = 'text';
    const selfClosing = !this.endTag && this.lastInTag === '/';
    const element = this.element;
    if (this.endTag) this.depth--;
    else if (!selfClosing) this.depth++;
    if (!element) {
      this.loose = 0; // the stream header, or the stream's end
      return undefined;
    }
    if (element.keep === undefined && !this.endTag) {
      // The top-level element's start tag is complete: decide on it.
      this.hold(data.slice(from, i + 1));
      from = i + 1;
      if (element.keep === undefined) {
        const startTag = element.parts.join('');
        element.parts = [startTag];
        element.name = /^<([^\s/>]+)/.exec(startTag)?.[1];
        element.from = attribute(startTag, 'from');
        if (!this.admit(element.name ?? '', element.from)) this.skip('untrusted');
        else element.keep = true;
      }
    }
    if (this.depth > 1) return from;
    // Back at the stream's level: the element is over (or it was the stream's end tag).
    this.hold(data.slice(from, i + 1));
    this.element = undefined;
    this.loose = 0;
    if (element.keep === false) {
      this.events.skipped({ name: element.name, from: element.from?.slice(0, 200), why: element.why! });
    } else {
      this.events.deliver(element.parts.join(''));
    }
    return i + 1;
  }

  /** Part of the current element: kept while it may still be let through, else dropped. */
  private hold(text: string): void {
    const element = this.element!;
    if (text === '' || element.keep === false) return;
    element.size += text.length;
    if (element.size > this.maxChars) {
      element.name ??= /^<([^\s/>]+)/.exec(element.parts.join('') + text)?.[1]?.slice(0, 200);
      return this.skip('oversize');
    }
    element.parts.push(text);
  }

  private skip(why: Skipped['why']): void {
    const element = this.element!;
    element.keep = false;
    element.why = why;
    element.parts = [];
  }

  private handOn(text: string): void {
    if (text === '') return;
    this.loose += text.length;
    if (this.loose > this.maxChars) return this.events.tooLarge();
    this.events.deliver(text);
  }

  /** The `n` characters before position `i` of `data`, reaching back into the previous chunk. */
  private before(data: string, i: number, n: number): string {
    return i >= n ? data.slice(i - n, i) : (this.tail + data.slice(0, i)).slice(-n);
  }
}

/** An attribute's value from a start tag as written, with XML's escapes undone. */
function attribute(startTag: string, name: string): string | undefined {
  const m = new RegExp(`\\s${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)')`).exec(startTag);
  if (!m) return undefined;
  return (m[1] ?? m[2]!).replace(/&(lt|gt|amp|quot|apos|#x[0-9a-fA-F]+|#[0-9]+);/g, (_, e: string) =>
    e === 'lt' ? '<' : e === 'gt' ? '>' : e === 'amp' ? '&' : e === 'quot' ? '"' : e === 'apos' ? "'" : codePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : Number(e.slice(1))),
  );
}

/** A character reference's character; one outside Unicode becomes U+FFFD (no JID has it). */
function codePoint(n: number): string {
  return n <= 0x10ffff ? String.fromCodePoint(n) : '\ufffd';
}
