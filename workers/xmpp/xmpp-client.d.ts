// The part of @xmpp/client 0.14 (which ships no types) that workers/xmpp/ uses.
declare module '@xmpp/client' {
  import type { EventEmitter } from 'node:events';

  export interface Element {
    name: string;
    attrs: Record<string, string | undefined>;
    is(name: string, xmlns?: string): boolean;
    getChild(name: string, xmlns?: string): Element | undefined;
    getChildText(name: string, xmlns?: string): string | null;
    text(): string;
  }

  export interface JID {
    local: string;
    domain: string;
    resource: string;
    bare(): JID;
    toString(): string;
  }

  export type Authenticate = (credentials: { username: string; password: string }, mechanism: string, userAgent?: unknown) => Promise<void>;

  export interface ClientOptions {
    service: string;
    domain: string;
    resource?: string;
    /** Milliseconds each step of opening or closing the stream may take (@xmpp/connection: 2000). */
    timeout?: number;
    credentials?: (authenticate: Authenticate, mechanisms: string[], fast: unknown, entity: Client) => Promise<void>;
  }

  export interface Client extends EventEmitter {
    jid: JID | null;
    status: string;
    reconnect: { stop(): void };
    iqCaller: { request(stanza: Element, timeoutMs?: number): Promise<Element> };
    isSecure(): boolean;
    start(): Promise<JID>;
    stop(): Promise<unknown>;
    disconnect(): Promise<unknown>;
    send(stanza: Element): Promise<void>;
    _onData(data: Buffer): void;
    /** The current stream's parser (a new one for every stream opened); null while none is. */
    parser: { write(text: string): void } | null;
    /** XEP-0198 counters: `inbound` is the count of stanzas handled, acknowledged to the server. */
    streamManagement?: { inbound: number };
  }

  export function client(options: ClientOptions): Client;
  export function xml(name: string, attrs?: Record<string, string | undefined>, ...children: (Element | string | undefined)[]): Element;
  export function jid(text: string): JID;
}
