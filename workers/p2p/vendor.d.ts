// The parts of Holepunch's untyped modules this transport uses, typed as used: nothing more.

declare module 'hyperdht' {
  import type { Duplex } from 'node:stream';
  export interface KeyPair {
    publicKey: Buffer;
    secretKey: Buffer;
  }
  export interface NoiseStream extends Duplex {
    readonly remotePublicKey: Buffer;
    readonly isInitiator: boolean;
    readonly opened: Promise<boolean>;
    setKeepAlive(ms: number): void;
    setTimeout(ms: number): void;
  }
  export interface Server {
    listen(keyPair: KeyPair): Promise<void>;
    close(): Promise<void>;
    on(event: 'connection', fn: (stream: NoiseStream) => void): this;
  }
  export interface DHTOptions {
    bootstrap?: (string | { host: string; port: number })[];
    keyPair?: KeyPair;
    port?: number;
    host?: string;
    ephemeral?: boolean;
    firewalled?: boolean;
  }
  export default class DHT {
    constructor(options?: DHTOptions);
    static keyPair(seed?: Buffer): KeyPair;
    /** A bootstrap node announcing host:port; `options.host` is what its sockets bind (default 0.0.0.0). */
    static bootstrapper(port: number, host: string, options?: DHTOptions): DHT;
    ready(): Promise<void>;
    createServer(options: { firewall?(remotePublicKey: Buffer): boolean }, onConnection?: (stream: NoiseStream) => void): Server;
    connect(remotePublicKey: Buffer, options?: { keyPair?: KeyPair }): NoiseStream;
    fullyBootstrapped(): Promise<void>;
    address(): { host: string; port: number };
    destroy(options?: { force?: boolean }): Promise<void>;
    /** The routing table (dht-rpc): empty while no DHT node answers. */
    readonly nodes: { readonly length: number };
    /** Queries the DHT (its bootstrap nodes when the table is empty) in the background. */
    refresh(): void;
    on(event: 'add-node' | 'remove-node' | 'network-change', fn: () => void): this;
    off(event: 'add-node' | 'remove-node' | 'network-change', fn: () => void): this;
  }
}

declare module 'hyperdht/testnet.js' {
  import type DHT from 'hyperdht';
  export interface Testnet {
    nodes: DHT[];
    bootstrap: { host: string; port: number }[];
    createNode(options?: import('hyperdht').DHTOptions): DHT;
    destroy(): Promise<void>;
  }
  export default function createTestnet(size?: number, options?: { host?: string; port?: number }): Promise<Testnet>;
}

declare module 'protomux' {
  import type { Duplex } from 'node:stream';
  export interface Encoding<T = unknown> {
    preencode(state: unknown, value: T): void;
    encode(state: unknown, value: T): void;
    decode(state: unknown): T;
  }
  export interface Message<T = unknown> {
    send(value: T): boolean;
  }
  export interface Channel {
    readonly opened: boolean;
    readonly closed: boolean;
    readonly drained: boolean;
    addMessage<T>(options: { encoding: Encoding<T>; onmessage?(value: T): unknown }): Message<T>;
    open(handshake?: unknown): void;
    close(): void;
  }
  export interface ChannelOptions {
    protocol: string;
    id?: Buffer | null;
    unique?: boolean;
    handshake?: Encoding;
    onopen?(handshake: unknown): unknown;
    onclose?(): unknown;
  }
  export default class Protomux {
    constructor(stream: Duplex);
    static from(stream: Duplex): Protomux;
    createChannel(options: ChannelOptions): Channel | null;
    pair(options: { protocol: string; id?: Buffer | null }, fn: (id: Buffer | null) => void): void;
    unpair(options: { protocol: string; id?: Buffer | null }): void;
  }
}

declare module 'compact-encoding' {
  import type { Encoding } from 'protomux';
  const c: {
    buffer: Encoding<Buffer | null>;
    uint: Encoding<number>;
    string: Encoding<string>;
    json: Encoding<unknown>;
    none: Encoding<null>;
    array<T>(encoding: Encoding<T>): Encoding<T[]>;
  };
  export default c;
}

declare module 'hypercore-id-encoding' {
  export function encode(key: Buffer): string;
  export function decode(id: string): Buffer;
}
