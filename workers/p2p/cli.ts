// `git remote-daemon p2p ...`, as the CLI lists it: the p2p plugin hands registerP2p to the CLI
// (TransportPlugin.commands). Cheap to import, like the plugin: what a command does (commands.ts)
// is loaded when it runs.

import type { Command } from 'commander';
import { DEFAULT_BOOTSTRAP_PORT } from './bootstrap.js';

export function registerP2p(program: Command): void {
  const p2p = program.command('p2p').description('peers: this repository\'s address and pairing with another repository');
  p2p
    .command('address')
    .description("print this repository's peer address (its fingerprint goes to stderr)")
    .option('--user', 'print your user identity instead: the key `git clone p2p://...` connects with, for the other side to allow (remotedaemon.p2p.allow); works outside a repository')
    .action(async (options: { user?: boolean }) => {
      const act = await import('./commands.js');
      await act.run(() => act.address(options));
    });
  p2p
    .command('pair')
    .description('exchange addresses with another repository through a short code phrase (magic-wormhole) and add it as a remote')
    .argument('[code]', "the other side's code; without one, a code is made for you to pass on")
    .option('--name <remote>', 'name of the remote to add for the peer', 'peer')
    .option('--relay-url <url>', 'magic-wormhole mailbox server (default: its public one)')
    .action(async (code: string | undefined, options: { name: string; relayUrl?: string }) => {
      const act = await import('./commands.js');
      await act.run(() => act.pair(code, options));
    });
  p2p
    .command('bootstrap')
    .description('run a DHT bootstrap node for peers that use your own DHT (offline, a LAN), bound to --host only, until interrupted')
    .option('--host <ipv4>', 'the address to bind and announce: the one peers reach it at', '127.0.0.1')
    .option('--port <port>', 'the UDP port', String(DEFAULT_BOOTSTRAP_PORT))
    .action(async (options: { host: string; port: string }) => {
      const act = await import('./commands.js');
      await act.run(() => act.bootstrap(options));
    });
}
