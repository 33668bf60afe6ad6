// Shared endpoints: started once from config, linked to each remote by a channel, settings updated
// live, a crash reported and restarted with every remote relinked, stopped on demand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MessagePort } from 'node:worker_threads';
import { Endpoints, PAUSED_ENDPOINT } from '../src/endpoints.js';
import { ProtocolGate } from '../src/gate.js';
import { createPool } from '../src/supervisor.js';
import { formatEmitted } from '../src/protocol.js';
import type { TransportPlugin } from '../shared/plugin.js';
import { eventually } from './support/daemon.js';

const plugin: TransportPlugin = {
  name: 'echo',
  network: true,
  claims: () => false,
  load: () => Promise.reject(new Error('not used')),
  endpoint: {
    settings: (config) => (config.has('echo.tag') ? { settings: { tag: config.get('echo.tag')!.at(-1)! } } : undefined),
    file: new URL('./support/echo-endpoint.js', import.meta.url),
  },
};

function ask(port: MessagePort, text: string): Promise<string> {
  return new Promise((resolve) => {
    port.once('message', resolve);
    port.postMessage(text);
  });
}

test('an endpoint runs once, each remote talks to it, and a crash is reported, restarted and relinked', async (t) => {
  const logs: string[] = [];
  const out: string[] = [];
  const pool = createPool((text) => logs.push(text));
  t.after(() => pool.destroy());
  const gate = new ProtocolGate({ emit: (m) => out.push(formatEmitted(m)), log: (text) => logs.push(text) });
  const relinked = new Map<string, MessagePort>();
  const endpoints = new Endpoints({ pool, repo: { cwd: '/', gitDir: '/' }, gate, log: (text) => logs.push(text), relink: (remote, port) => relinked.set(remote, port), restartBackoff: { initialMs: 50, maxMs: 100 } });
  t.after(() => endpoints.stop());

  assert.deepEqual(endpoints.configure([plugin], new Map()), []);
  assert.equal(endpoints.link('echo', 'a', 'u'), undefined, 'not configured: not running, nothing to link');
  endpoints.configure([plugin], new Map([['echo.tag', ['one']]]));
  const a = endpoints.link('echo', 'a', 'https://a')!;
  const b = endpoints.link('echo', 'b', 'https://b')!;
  assert.equal(await ask(a, 'hi'), 'a:one:hi');
  assert.equal(await ask(b, 'hi'), 'b:one:hi');
  endpoints.configure([plugin], new Map([['echo.tag', ['two']]]));
  assert.equal(await ask(a, 'again'), 'a:two:again', 'settings change live, no restart');
  assert.equal(logs.filter((l) => l.includes('started with')).length, 1);

  a.postMessage('warn');
  await eventually(() => out.includes('WARNING * echo endpoint: something is off'), 'its condition is said');
  a.postMessage('crash');
  await eventually(() => out.some((l) => /^WARNING \* the echo endpoint failed \(endpoint crash requested by test\); restarting in/.test(l)), 'the crash is reported');
  await eventually(() => relinked.size === 2, 'both remotes relinked after the restart');
  assert.equal(await ask(relinked.get('b')!, 'back'), 'b:two:back');
  // Status shows what holds now: the restart is over, and the new run has said nothing yet.
  assert.deepEqual(gate.held('*'), []);
  relinked.get('a')!.postMessage('warn');
  relinked.get('a')!.postMessage('warn-retried');
  await eventually(() => gate.held('*').length === 2, 'the new run\'s conditions hold');
  // RESUME: the gate forgets what it said; what the endpoint reported and still holds is said
  // again, but not what RESUME makes the endpoint try again (its attempt will say).
  gate.forgetWhere(() => true);
  const before = out.length;
  endpoints.resay();
  assert.deepEqual(out.slice(before), ['WARNING * echo endpoint: something is off']);
  assert.deepEqual(gate.held('*').map((c) => c.kind), ['endpoint:echo:test']);

  endpoints.configure([plugin], new Map());
  await eventually(() => logs.length > 0 && endpoints.link('echo', 'c', 'u') === undefined, 'stopped when the config no longer asks for it');
  await eventually(() => gate.held('*').length === 0, 'a stopped endpoint\'s conditions are gone with it');
});

test('a notice carrier is linked to every remote whatever its transport, including remotes that were there before it started', async (t) => {
  const pool = createPool(() => {});
  t.after(() => pool.destroy());
  const gate = new ProtocolGate({ emit: () => {}, log: () => {} });
  const relinked: { remote: string; carrier?: string; port: MessagePort }[] = [];
  const endpoints = new Endpoints({ pool, repo: { cwd: '/', gitDir: '/' }, gate, log: () => {}, relink: (remote, port, carrier) => relinked.push({ remote, port, carrier }), restartBackoff: { initialMs: 50, maxMs: 100 } });
  t.after(() => endpoints.stop());
  const carrier = { name: 'carrier', endpoint: { ...plugin.endpoint!, notices: true as const, settings: (config: Map<string, string[]>) => (config.has('carrier.tag') ? { settings: { tag: 'c' } } : undefined) } };

  endpoints.configure([plugin, carrier], new Map());
  assert.deepEqual(endpoints.linkNotices('early', 'ssh://h/r'), [], 'no carrier yet');
  endpoints.configure([plugin, carrier], new Map([['carrier.tag', ['x']]]));
  await eventually(() => relinked.length === 1, 'the remote that was there first is linked when the carrier starts');
  assert.deepEqual([relinked[0]!.remote, relinked[0]!.carrier], ['early', 'carrier']);
  assert.equal(await ask(relinked[0]!.port, 'hi'), 'early:c:hi');
  const [late] = endpoints.linkNotices('late', '/some/path');
  assert.equal(late!.carrier, 'carrier');
  assert.equal(await ask(late!.port, 'hi'), 'late:c:hi');
  assert.equal(endpoints.link('echo', 'late', '/some/path'), undefined, 'its transport has no endpoint running: only the carrier');
});

test("a transport's endpoint turned on later links the remotes already running; turned off, they hear it is gone", async (t) => {
  const logs: string[] = [];
  const pool = createPool(() => {});
  t.after(() => pool.destroy());
  const gate = new ProtocolGate({ emit: () => {}, log: () => {} });
  const relinked = new Map<string, MessagePort>();
  const gone: string[] = [];
  const endpoints = new Endpoints({
    pool,
    repo: { cwd: '/', gitDir: '/' },
    gate,
    log: (text) => logs.push(text),
    relink: (remote, port) => relinked.set(remote, port),
    gone: (remote, carrier) => gone.push(`${remote}:${carrier ?? ''}`),
    restartBackoff: { initialMs: 50, maxMs: 100 },
  });
  t.after(() => endpoints.stop());

  endpoints.configure([plugin], new Map());
  assert.equal(endpoints.link('echo', 'origin', 'https://a'), undefined, 'no endpoint yet');
  endpoints.configure([plugin], new Map([['echo.tag', ['on']]]));
  await eventually(() => relinked.has('origin'), 'the running remote is linked when its endpoint starts');
  assert.equal(await ask(relinked.get('origin')!, 'hi'), 'origin:on:hi');
  endpoints.configure([plugin], new Map());
  assert.deepEqual(gone, ['origin:'], 'told its endpoint is gone for good');
  relinked.clear();
  endpoints.configure([plugin], new Map([['echo.tag', ['again']]]));
  await eventually(() => relinked.has('origin'), 'on again: linked again');
  assert.equal(await ask(relinked.get('origin')!, 'hi'), 'origin:again:hi');
  assert.equal(logs.filter((l) => l.includes('started with')).length, 2);
});

test('paused, no endpoint runs, whatever the config asks; RESUME starts each at once and links its remotes', async (t) => {
  const logs: string[] = [];
  const pool = createPool(() => {});
  t.after(() => pool.destroy());
  const gate = new ProtocolGate({ emit: () => {}, log: () => {} });
  const relinked: { remote: string; carrier?: string; port: MessagePort }[] = [];
  const gone: string[] = [];
  const endpoints = new Endpoints({
    pool,
    repo: { cwd: '/', gitDir: '/' },
    gate,
    log: (text) => logs.push(text),
    relink: (remote, port, carrier) => relinked.push({ remote, port, carrier }),
    gone: (remote) => gone.push(remote),
    restartBackoff: { initialMs: 50, maxMs: 100 },
  });
  t.after(() => endpoints.stop());
  const carrier = { name: 'carrier', endpoint: { ...plugin.endpoint!, notices: true as const, settings: (config: Map<string, string[]>) => (config.has('carrier.tag') ? { settings: { tag: 'c' } } : undefined) } };
  const started = () => logs.filter((l) => l.includes('started with')).length;

  endpoints.configure([plugin, carrier], new Map([['echo.tag', ['one']]]));
  const first = endpoints.link('echo', 'origin', 'https://a')!;
  assert.equal(await ask(first, 'hi'), 'origin:one:hi');
  endpoints.control('pause');
  // The running endpoint is stopped: its thread ends, so its link is closed.
  await new Promise<void>((resolve, reject) => {
    // The timer also keeps the event loop alive: a port waited on for 'close' alone does not.
    const timer = setTimeout(() => reject(new Error('the paused endpoint did not stop')), 10_000);
    first.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  // A RELOAD while paused: a new carrier, a changed endpoint, a new remote, and RELOAD's own word.
  endpoints.configure([plugin, carrier], new Map([['echo.tag', ['two']], ['carrier.tag', ['x']]]));
  assert.equal(endpoints.link('echo', 'second', 'https://b'), undefined, 'nothing to link to while paused');
  assert.deepEqual(endpoints.linkNotices('second', 'https://b'), []);
  endpoints.control('reload');
  endpoints.control('lostnet');
  assert.equal(started(), 1, 'nothing started while paused');
  assert.deepEqual(
    endpoints.status().map((s) => [s.name, s.summary]),
    [
      ['echo', PAUSED_ENDPOINT],
      ['carrier', PAUSED_ENDPOINT],
    ],
  );
  assert.deepEqual(gone, [], 'paused is not gone: the remotes keep their links for RESUME');

  endpoints.control('resume');
  assert.equal(started(), 1, 'RESUME starts them at once, in this call (their threads start next)');
  // Each is linked as its thread starts (the paused echo's new thread waits for the old one to end).
  const links = () => relinked.map((r) => `${r.remote}:${r.carrier ?? ''}`).sort();
  await eventually(() => links().length === 4, `both endpoints linked both remotes (${links().join(', ')})`);
  assert.deepEqual(links(), ['origin:', 'origin:carrier', 'second:', 'second:carrier']);
  const second = relinked.find((r) => r.remote === 'second' && !r.carrier)!;
  assert.equal(await ask(second.port, 'hi'), 'second:two:hi', 'the new settings, the new remote linked');
  const viaCarrier = relinked.find((r) => r.remote === 'second' && r.carrier === 'carrier')!;
  assert.equal(await ask(viaCarrier.port, 'hi'), 'second:c:hi');
  assert.equal(started(), 3);

  // What an endpoint says while it stops (its last counts) is still logged, though no remote uses it.
  await endpoints.stop();
  await eventually(() => logs.includes('echo endpoint: stopping') && logs.includes('carrier endpoint: stopping'), 'what the stopping endpoints said is logged');
});
