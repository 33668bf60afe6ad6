// The only list of transports, in the order they are asked whether they claim a URL. Each entry
// imports its plugin module only when asked: a remote's worker imports its own transport's plugin
// and no other (a p2p plugin's settings pull in protomux; every module a worker loads costs that
// thread memory for its life), the coordinator imports them all (workers/registry.ts). Adding a
// transport is one folder with a plugin.ts and one line here.

import type { TransportPlugin } from '../shared/plugin.js';

export interface ListedTransport {
  /** The plugin's `name`, so that a worker can find its own without importing the others. */
  readonly name: string;
  plugin(): Promise<TransportPlugin>;
}

export const TRANSPORT_LIST: readonly ListedTransport[] = [
  { name: 'local', plugin: async () => (await import('./local/plugin.js')).localPlugin },
  { name: 'ssh', plugin: async () => (await import('./ssh/plugin.js')).sshPlugin },
  { name: 'http', plugin: async () => (await import('./http/plugin.js')).httpPlugin },
  { name: 'p2p', plugin: async () => (await import('./p2p/plugin.js')).p2pPlugin },
];

/** In a remote's worker: the plugin of the transport `name`, imported alone; undefined for none of ours. */
export async function loadTransport(name: string): Promise<TransportPlugin | undefined> {
  const listed = TRANSPORT_LIST.find((t) => t.name === name);
  return listed && named(listed, await listed.plugin());
}

/** The plugin, checked to carry the name it is listed under (the worker finds it by that name). */
export function named(listed: ListedTransport, plugin: TransportPlugin): TransportPlugin {
  if (plugin.name !== listed.name) throw new Error(`workers/transports.ts lists '${listed.name}' for the plugin named '${plugin.name}'`);
  return plugin;
}
