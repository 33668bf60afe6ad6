// src/commands/health.ts: what `status --check` counts as a problem, from a state file's view.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { StateView } from '../../src/commands/statusview.js';
import { healthProblems } from '../../src/commands/health.js';

const now = Date.UTC(2026, 11, 2, 11, 20, 21);
const min = 60_000;

test('health: waiting for the user, a failed fetch and a long disconnection are problems; pause is not', () => {
  const remotes: StateView['remotes'] = [
    { name: 'a', phase: { kind: 'waiting', reason: 'unknown host key' }, connected: false, since: now },
    { name: 'b', connected: true, since: now - min, lastFetch: { at: now - 1000, ok: false } },
    { name: 'c', connected: false, since: now - 11 * min },
    { name: 'd', connected: false, since: now - 9 * min },
    { name: 'e', connected: true, since: now - 60 * min, lastFetch: { at: now, ok: true } },
  ];
  assert.deepEqual(healthProblems({ pid: 1, remotes }, now, 10 * min), [
    'a: waiting for resume or reload: unknown host key',
    'b: last fetch failed 1s ago',
    'c: disconnected for 11m 00s (allowed: 10m 00s)',
  ]);
  assert.deepEqual(healthProblems({ pid: 1, mode: 'paused', remotes }, now, 10 * min), []);
});

test('health: offline (LOSTNET) sets aside the remotes and the endpoints\' warnings, never the others', () => {
  const view: StateView = {
    pid: 1,
    mode: 'lostnet',
    remotes: [{ name: 'a', lastFetch: { at: now - 1000, ok: false } }],
    warnings: [
      { at: now, kind: 'endpoint:p2p:dht', text: 'p2p endpoint: cannot reach the DHT' },
      { at: now, kind: 'config', text: 'remotedaemon.p2p.port: "x" is not a port number; ignored' },
      { at: now, text: 'a warning of no kind' },
    ],
  };
  assert.deepEqual(healthProblems(view, now, 10 * min), [
    'daemon: remotedaemon.p2p.port: "x" is not a port number; ignored',
    'daemon: a warning of no kind',
  ]);
  assert.deepEqual(healthProblems({ ...view, mode: 'running' }, now, 10 * min), [
    'daemon: p2p endpoint: cannot reach the DHT',
    'daemon: remotedaemon.p2p.port: "x" is not a port number; ignored',
    'daemon: a warning of no kind',
    'a: last fetch failed 1s ago',
  ]);
});

test('health: one problem per remote, the first that holds; a disconnection with no start time is not one', () => {
  const remotes: StateView['remotes'] = [
    { name: 'w', phase: { kind: 'waiting' }, connected: false, since: now - 60 * min, lastFetch: { at: now - 2000, ok: false } },
    { name: 'f', connected: false, since: now - 60 * min, lastFetch: { at: now - 2 * min, ok: false } },
    { name: 'n', connected: false },
    { name: 'edge', connected: false, since: now - 10 * min },
  ];
  assert.deepEqual(healthProblems({ pid: 1, remotes }, now, 10 * min), [
    'w: waiting for resume or reload: see the log',
    'f: last fetch failed 2m 00s ago',
  ]);
  assert.deepEqual(healthProblems({ pid: 1 }, now, 0), [], 'a state with no remotes and no warnings is healthy');
});
