// What a transport says about itself, so that config, status and the worker need no list of their
// own: which URLs it claims, which config it reads for a remote, how to create it, and optionally
// a daemon-level endpoint that several remotes share. Importing a plugin is cheap; its transport
// (ssh2 and friends) is loaded only inside the workers that need it.

import type { MessagePort } from 'node:worker_threads';
import type { Command } from 'commander';
import type { GitConfig } from './gitconfig.js';
import type { UrlKind } from './kit/url.js';
import type { LiveSettings, RemoteSpec, RepoInfo } from './workerapi.js';
import type { Transport } from './transport.js';

/** What a plugin may read while the coordinator builds one remote's spec from git's config. */
export interface RemoteConfigContext {
  /** The remote's name. */
  name: string;
  /** The URL after `insteadOf` rewriting. */
  url: string;
  config: GitConfig;
  env: NodeJS.ProcessEnv;
  /** `remote.<name>.<key>` as git uses it (the last value); `key` in lower case. */
  get(key: string): string | undefined;
}

export type RemoteOptions =
  /** Transport-specific settings for this remote: plain data, compared to tell a changed remote. */
  | { options: Record<string, unknown>; problems?: string[] }
  /** The transport claims the URL but cannot serve this remote; said once as a WARNING. */
  | { ignore: string };

/** What runs in a remote's worker. */
export interface TransportContext {
  spec: RemoteSpec;
  repo: RepoInfo;
  /** Settings that may change without restarting the remote (poll interval...): read them when used. */
  live(): LiveSettings;
  /** The link to this transport's shared endpoint, when it declares one and the daemon runs it. */
  endpoint?: EndpointLink;
  /**
   * Tells the session the remote can be reached again (p2p: the DHT answers again, the peer linked
   * to us), at any time: a remote backing off retries at once; otherwise it changes nothing.
   */
  reachable?(why: string): void;
}

export interface TransportModule {
  create(context: TransportContext): Transport;
}

export interface TransportPlugin {
  /** Shown in status and logs; the registry key. */
  readonly name: string;
  /** The URLs it serves, for people: help and the man page list them ("local paths and file://"). */
  readonly serves?: string;
  /** False for transports that need no network: LOSTNET leaves them running. */
  readonly network: boolean;
  /** True when this transport serves the URL (already rewritten by insteadOf). */
  claims(url: string, kind: UrlKind): boolean;
  /** The transport's settings for one remote; none needed when absent. */
  remoteOptions?(context: RemoteConfigContext): RemoteOptions;
  /** Loads the worker side (dynamic import: heavy dependencies only where used). */
  load(): Promise<TransportModule>;
  /** A daemon-level part shared by this transport's remotes (a listener, a node, an account). */
  endpoint?: EndpointPlugin;
  /**
   * Adds the transport's own subcommands to the CLI (`git remote-daemon p2p ...`): the CLI reaches
   * them through the registry, never the transport's folder. Defining them must stay cheap; what a
   * command does is loaded when it runs.
   */
  commands?(program: Command): void;
}

/**
 * A shared endpoint runs in a thread of its own (src/endpoints.ts): if it crashes, it is reported
 * and restarted like a remote's worker, and the coordinator never runs its code. A daemon that
 * serves several repositories runs one per identity (see `identity`).
 */
export interface EndpointPlugin {
  /** Daemon-wide settings from git's config; no settings when this daemon does not run it. */
  settings(config: GitConfig): { settings?: Record<string, unknown>; problems?: string[] } | undefined;
  /**
   * What the endpoint is to the world (the address it listens on, the account it logs in as, the
   * key it is known by): repositories of one process with the same identity never get two
   * threads of it. Without one, each repository has its own thread. May read a small file; throws
   * to say why it cannot tell (a config problem).
   */
  identity?(settings: Record<string, unknown>, repo: RepoInfo): EndpointIdentity | undefined;
  /**
   * Settings each repository has for itself (the webhook's secret, the XMPP trust list):
   * repositories share the thread
   * when the rest agree, whatever these are. The thread never gets them in its settings; each
   * remote's `attach` carries its repository's (`own`), as `read` makes them.
   */
  readonly own?: OwnSettings;
  /** Module whose default export is the endpoint's task (see EndpointTask). */
  readonly file: URL;
  /**
   * It carries change notices between the user's devices (workers/notice/): every remote is
   * linked to it, whatever its transport, with `notices: true` on attach and detach.
   */
  readonly notices?: boolean;
}

export interface OwnSettings {
  /** The settings' keys that are each repository's own. */
  keys: readonly string[];
  /**
   * What the endpoint gets with each remote of the repository (a secret read from its file);
   * throws to say why the repository gets no part (a file others can read). Never logged.
   */
  read(settings: Record<string, unknown>): Record<string, unknown>;
  /** At most this many different ones among one thread's repositories: a repository beyond gets no part. */
  max: number;
  /** For people, in plural: "secrets". */
  describe: string;
}

export interface EndpointIdentity {
  /** Equal keys: the same endpoint. */
  key: string;
  /**
   * Repositories that ask for it with equal settings share one thread (their remotes' names
   * qualified by repository; what is each repository's own, such as whom it trusts, comes with
   * its remotes: see EndpointPlugin.own); one whose settings differ gets no part and is told why.
   * When false, only one repository of the process may use it: any other asking for the same
   * identity is told why.
   */
  shared: boolean;
  /** For people: "the webhook address 127.0.0.1:9000", "the XMPP account a@b". */
  describe: string;
  /** Why it cannot be shared (when not `shared`), for people. */
  unshared?: string;
}

/**
 * A shared endpoint that is no transport's: it only carries change notices for every remote
 * (XMPP). Listed in workers/registry.ts next to the transports.
 */
export interface NoticeCarrierPlugin {
  readonly name: string;
  readonly endpoint: EndpointPlugin & { notices: true };
}

/** Whatever may declare a shared endpoint: a transport or a notice carrier. */
export type EndpointOwner = Pick<TransportPlugin, 'name' | 'endpoint'>;

/** The endpoint's task, as the pool runs it; it resolves only on a clean stop. */
export interface EndpointTask {
  kind: 'endpoint';
  plugin: string;
  settings: Record<string, unknown>;
  repo: RepoInfo;
  /** From and to the coordinator: ToEndpoint in, FromEndpoint out. */
  port: MessagePort;
  /** Started during LOSTNET: stay off the network until RESUME or RELOAD (`control`). */
  lostnet?: true;
}

export type ToEndpoint =
  /** A remote's worker wants to talk to the endpoint: messages on `port` are that remote's. */
  | { type: 'attach'; remote: string; url: string; port: MessagePort; notices?: true; own?: Record<string, unknown> }
  | { type: 'detach'; remote: string; notices?: true }
  | { type: 'settings'; settings: Record<string, unknown> }
  /** The controller's PAUSE, LOSTNET, RESUME, RELOAD: an endpoint on the network follows them too. */
  | { type: 'control'; what: 'pause' | 'lostnet' | 'resume' | 'reload' }
  /** CHANGED from the controller: refs of this repository that may have moved (names only). */
  | { type: 'changed'; refs: string[] }
  | { type: 'stop' };

export type FromEndpoint =
  | { type: 'log'; text: string }
  /**
   * A condition worth a WARNING (said once per kind until cleared), or cleared (text null).
   * `retriedOnResume`: RESUME makes the endpoint try again, and the attempt says whether it still
   * holds; the daemon does not repeat it on RESUME as it does other conditions.
   */
  | { type: 'condition'; kind: string; text: string | null; retriedOnResume?: boolean }
  /** What `status` shows for the endpoint: one line, and when notable things last happened. */
  | { type: 'status'; status: EndpointStatus };

export interface EndpointStatus {
  summary: string;
  events?: { what: string; at: number }[];
}

/**
 * A remote's side of its link to an endpoint. The port behind it is replaced when the endpoint
 * restarts; a transport subscribes once and never sees the change.
 */
export interface EndpointLink {
  post(message: unknown): void;
  onMessage(fn: (message: unknown) => void): () => void;
  /**
   * The config no longer asks for the endpoint (a webhook receiver turned off): nothing will come
   * on this link until the endpoint is started again, when messages simply come again.
   */
  onGone?(fn: () => void): () => void;
}
