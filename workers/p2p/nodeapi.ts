// What the endpoint thread and its peer-node child process say to each other over the child's IPC
// channel (JSON: plain data only).

import type { NodeSettings } from './settings.js';

export type ToNode =
  | { type: 'start'; settings: NodeSettings; gitDir: string }
  | { type: 'settings'; settings: NodeSettings }
  /** A remote wants the held link to `key` up (it is already, or we dial). */
  | { type: 'dial'; key: string }
  /** Local refs that may have moved (CHANGED): offer their current values to interested peers. */
  | { type: 'offer'; refs: string[] }
  /** A change notice about the remote at `url` (normalised): to our devices that have it too. */
  | { type: 'notice'; text: string; url: string }
  | { type: 'stop' };

export type FromNode =
  | { type: 'log'; text: string }
  | { type: 'condition'; kind: string; text: string | null }
  /** The node cannot run until the user acts (an unsafe key file); it exits after this. */
  | { type: 'fatal'; text: string }
  | { type: 'ready'; publicKey: string; socket: string }
  | { type: 'up'; key: string }
  /** The DHT answers again after none of its nodes did: dials that failed for it may work now. */
  | { type: 'reachable' }
  | { type: 'down'; key: string; reason: string }
  | { type: 'dial-failed'; key: string; reason: string; needsUser: boolean }
  | { type: 'refs'; key: string; refs: [string, string][] }
  /** A peer with a held link sent a change notice (still encoded, not yet trusted). */
  | { type: 'notice'; key: string; text: string };

/** The unix socket through which `git-remote-p2p` borrows the node's held links. */
export function socketPath(commonGitDir: string): string {
  return `${commonGitDir}/remote-daemon/p2p.sock`;
}

/**
 * The node's answer for a key it holds no link to and may not (a remote the daemon leaves out):
 * the helper then connects on its own, as it would with no daemon running.
 */
export const NOT_A_PEER = 'not a peer of the running node';
