// The daemon-wide p2p settings, read from git's config by the coordinator (so: cheap, no hyperdht)
// and handed to the endpoint as plain data. Who may talk to us is exactly this: the keys of our
// p2p remotes plus `remotedaemon.p2p.allow` entries (serve-only peers).

import { last, parseBool, rewriteUrl, type GitConfig } from '../../shared/gitconfig.js';
import { normaliseUrl } from '../notice/format.js';
import { keyOf, parseKey } from './address.js';
import { parseShowRules, type ShowRules } from './shown.js';

export interface Peer {
  /** Hex public key. */
  key: string;
  /** Our fetch refspecs for it (every remote naming it): what we tell it we want offered. */
  fetch: string[];
}

export interface NodeSettings {
  /** `host:port` DHT bootstrap nodes; none means hyperdht's public defaults. */
  bootstrap?: { host: string; port: number }[];
  /** UDP port and address to bind (`remotedaemon.p2p.port`, `remotedaemon.p2p.host`). */
  port?: number;
  host?: string;
  /**
   * `remotedaemon.p2p.reachable`: this node's port is reachable directly (a public address, a
   * forwarded port, a LAN or loopback test), so it joins the DHT as a full node and needs no
   * hole punching. Off by default: a node behind NAT that claims this is unreachable.
   */
  reachable: boolean;
  /** Every key that may connect (hex): peers we fetch from and serve-only `allow` entries. */
  allowed: string[];
  peers: Peer[];
  /** `remotedaemon.p2p.show`: which branches and tags peers are shown (shown.ts). */
  show: ShowRules;
  /**
   * The normalised URLs of this repository's remotes the daemon watches, told to every linked
   * peer: the change notices we want to hear. Nothing else of our remotes is said.
   */
  urls?: string[];
}

export function readSettings(config: GitConfig): { settings: NodeSettings; problems: string[] } | undefined {
  const problems: string[] = [];
  const peers = new Map<string, Peer>();
  const urls = new Set<string>();
  for (const [key, values] of config) {
    const m = /^remote\.(.+)\.url$/.exec(key);
    if (!m || values.length === 0) continue;
    const url = rewriteUrl(config, values.at(-1)!);
    if (parseBool(last(config, `remote.${m[1]}.remotedaemon`) ?? 'true') === false) continue;
    if (!url.startsWith('p2p:')) {
      const shared = normaliseUrl(url);
      if (shared) urls.add(shared);
      continue;
    }
    const peerKey = keyOf(url);
    if (!peerKey) continue; // the plugin says so for the remote
    const peer = peers.get(peerKey) ?? { key: peerKey, fetch: [] };
    peer.fetch.push(...(config.get(`remote.${m[1]}.fetch`) ?? []));
    peers.set(peerKey, peer);
  }
  const allowed = new Set(peers.keys());
  for (const entry of config.get('remotedaemon.p2p.allow') ?? []) {
    const k = parseKey(entry);
    if (k) allowed.add(k);
    else problems.push(`remotedaemon.p2p.allow: ${JSON.stringify(entry)} is not a peer key or p2p:// address; ignored`);
  }
  if (allowed.size === 0) return undefined; // nobody to talk to: no node, nothing revealed
  const show = parseShowRules(config.get('remotedaemon.p2p.show') ?? []);
  problems.push(...show.problems);
  const settings: NodeSettings = { reachable: false, allowed: [...allowed].sort(), peers: [...peers.values()], show: show.rules, urls: [...urls].sort() };
  const bootstrap = last(config, 'remotedaemon.p2p.bootstrap');
  if (bootstrap) {
    const nodes = parseBootstrap(bootstrap);
    if (nodes) settings.bootstrap = nodes;
    else problems.push(`remotedaemon.p2p.bootstrap: expected host:port[,host:port...], got ${JSON.stringify(bootstrap)}; using the defaults`);
  }
  const port = last(config, 'remotedaemon.p2p.port');
  if (port !== undefined) {
    const n = Number(port);
    if (Number.isInteger(n) && n > 0 && n < 65536) settings.port = n;
    else problems.push(`remotedaemon.p2p.port: ${JSON.stringify(port)} is not a port number; ignored`);
  }
  const host = last(config, 'remotedaemon.p2p.host');
  if (host) settings.host = host;
  const reachable = last(config, 'remotedaemon.p2p.reachable');
  if (reachable !== undefined) {
    const b = parseBool(reachable);
    if (b === undefined) problems.push(`remotedaemon.p2p.reachable is not a boolean: ${JSON.stringify(reachable)}`);
    settings.reachable = b ?? false;
  }
  return { settings, problems };
}

export function parseBootstrap(text: string): { host: string; port: number }[] | undefined {
  const nodes = [];
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(.+):(\d{1,5})$/.exec(part);
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65535) return undefined;
    nodes.push({ host: m[1].replace(/^\[(.*)\]$/, '$1'), port });
  }
  return nodes.length ? nodes : undefined;
}

/** DHT options from the settings (shared by the node and the stand-alone remote helper). */
export function dhtOptions(settings: Pick<NodeSettings, 'bootstrap' | 'port' | 'host' | 'reachable'>) {
  return {
    ...(settings.bootstrap ? { bootstrap: settings.bootstrap } : {}),
    ...(settings.port ? { port: settings.port } : {}),
    ...(settings.host ? { host: settings.host } : {}),
    ...(settings.reachable ? { ephemeral: false, firewalled: false } : {}),
  };
}
