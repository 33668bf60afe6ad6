// A p2p remote's worker side. The held link belongs to the daemon's peer node (endpoint.ts); this
// asks for it to be up, hears the peer's change notices, and fetches through `git-remote-p2p`,
// which borrows the node's link through its unix socket: the thin one in held/ (sh and socat, no
// Node start-up per fetch), which hands anything it does not know to the full one in bin/.

import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findGitDir } from '../../shared/kit/gitdir.js';
import { runLsRemote } from '../lsremote.js';
import type { EndpointLink, TransportContext } from '../../shared/plugin.js';
import { NeedsUser, type Connection, type FetchPlan, type RefMap, type Transport, type TransportEvents } from '../../shared/transport.js';
import { keyOf } from './address.js';
import { socketPath } from './nodeapi.js';
import { mark } from '../timing.js';
import { openHeldSession } from './heldsession.js';
import { directFetch } from '../direct/fetch.js';
import type { DirectSetup, Fallback } from '../direct/plan.js';

export type ToP2pEndpoint = { type: 'dial' };

export type FromP2pEndpoint =
  /** Sent on every (re)attach: a new instance means the node behind it was restarted. */
  | { type: 'hello'; instance: string }
  /** The link to this remote's peer is up (we dialled, or it did). */
  | { type: 'up' }
  /** The DHT answers again after none of its nodes did. */
  | { type: 'reachable' }
  | { type: 'down'; reason: string }
  | { type: 'failed'; key: string; reason: string; needsUser: boolean }
  | { type: 'refs'; refs: [string, string][] };

const DIAL_ANSWER_MS = 45_000;
/**
 * A listing goes over the held link, and the peer is somebody's laptop: however it stalls or what
 * it sends, a listing ends within this and holds at most LISTING_MAX_BYTES of refs.
 */
const LISTING_TIMEOUT_MS = 60_000;
const LISTING_MAX_BYTES = 16 * 1024 * 1024;

/** bin/, where `git-remote-p2p` is: git must find it whatever PATH the daemon was started with. */
const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin');
/** The thin git-remote-p2p for the daemon's own fetches (source tree, not dist/: it is sh). */
const HELD = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'workers', 'p2p', 'held');

export function create({ spec, repo, endpoint, reachable }: TransportContext): Transport {
  // Heard whether or not a connect is under way: a remote backing off because the DHT or the peer
  // could not be reached retries the moment either is back, instead of waiting out its delay.
  endpoint?.onMessage((raw) => {
    const m = raw as FromP2pEndpoint;
    if (m.type === 'reachable') reachable?.('the DHT answers again');
    else if (m.type === 'up') reachable?.('the peer linked to us');
  });
  const plan = fetchPlan(spec.url, socketPath(findGitDir(repo.gitDir)), (spec.options as { direct?: DirectSetup | Fallback }).direct);
  return {
    connect(events: TransportEvents, signal: AbortSignal): Promise<Connection> {
      if (!endpoint) return Promise.reject(new NeedsUser('the p2p endpoint is not running (no peer key is configured)'));
      if (signal.aborted) return Promise.reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      return heldLink(endpoint, plan, (over) => listRefs(spec.url, plan, repo.cwd, over), events, signal);
    },
  };
}

function fetchPlan(url: string, socket: string, direct: DirectSetup | Fallback | undefined): FetchPlan {
  const peer = keyOf(url);
  return {
    // Over the link the node holds, without git fetch (workers/direct/); git fetch where that gives way.
    ...(peer && { direct: (request) => directFetch(request, direct, () => openHeldSession(socket, peer)) }),
    env: {
      PATH: `${peer ? `${HELD}:` : ''}${BIN}:${process.env.PATH ?? ''}`,
      GRD_P2P_SOCKET: socket,
      GRD_P2P_URL: url,
      GRD_P2P_PEER: peer ?? '',
      GRD_P2P_FALLBACK: join(BIN, 'git-remote-p2p'),
    },
    // Whatever a peer sends is checked before it lands: a peer is a person's laptop, not a forge.
    gitArgs: ['-c', 'transfer.fsckObjects=true'],
  };
}

/** Asks the endpoint for the held link to the peer: connected once it is up, ended when it goes down. */
function heldLink(
  endpoint: EndpointLink,
  plan: FetchPlan,
  list: (signal: AbortSignal) => Promise<RefMap>,
  events: TransportEvents,
  signal: AbortSignal,
): Promise<Connection> {
  return new Promise((resolve, reject) => {
    let instance: string | undefined;
    let connected = false;
    // Ends what runs over the link (a listing) when the connection ends, however it ends.
    const over = new AbortController();
    let settle!: { resolve(): void; reject(err: Error): void };
    const done = new Promise<void>((res, rej) => (settle = { resolve: res, reject: rej }));
    done.catch(() => {});
    // The node answers every dial within its own 30 s; this only guards against a lost message.
    const timer = setTimeout(() => {
      end();
      reject(new Error('no answer from the peer node'));
    }, DIAL_ANSWER_MS);
    const end = (err?: Error) => {
      clearTimeout(timer);
      off();
      signal.removeEventListener('abort', onAbort);
      over.abort(err ?? new Error('the connection was closed'));
      if (err) settle.reject(err);
      else settle.resolve();
    };
    const off = endpoint.onMessage((raw) => {
      const m = raw as FromP2pEndpoint;
      switch (m.type) {
        case 'hello':
          if (connected && instance !== undefined && instance !== m.instance) end(new Error('the peer node was restarted'));
          instance = m.instance;
          return;
        case 'up':
          if (connected) return;
          connected = true;
          clearTimeout(timer);
          events.watching('change notices on the held peer link');
          return resolve(connection);
        case 'failed':
          if (connected) return;
          end();
          return reject(m.needsUser ? new NeedsUser(m.reason) : new Error(m.reason));
        case 'down':
          if (connected) end(new Error(m.reason));
          return;
        case 'refs':
          if (!connected) return;
          mark('offer-at-worker');
          events.changed({ kind: 'refs', refs: new Map(m.refs) });
      }
    });
    const onAbort = () => {
      end();
      reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const connection: Connection = {
      done,
      listRefs: () => list(over.signal),
      fetchPlan: async () => {
        mark('fetch-start');
        return plan;
      },
      async close() {
        end();
      },
    };
    endpoint.post({ type: 'dial' } satisfies ToP2pEndpoint);
  });
}

async function listRefs(url: string, plan: FetchPlan, cwd: string, signal: AbortSignal): Promise<RefMap> {
  const refs = await runLsRemote({
    cwd,
    args: [...(plan.gitArgs ?? []), 'ls-remote', url],
    env: { ...process.env, ...plan.env },
    signal,
    timeoutMs: LISTING_TIMEOUT_MS,
    maxBytes: LISTING_MAX_BYTES,
    display: url,
  });
  refs.delete('HEAD');
  return refs;
}
