// The process's endpoints shared by repositories (src/endpoints.ts, EndpointHost): one thread per
// identity, remote names qualified by repository, a part refused when settings differ, PAUSE per
// repository, conditions and crashes reaching every repository that uses the thread.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { MessagePort } from 'node:worker_threads';
import { EndpointHost, Endpoints, PAUSED_ENDPOINT } from '../src/endpoints.js';
import { ProtocolGate } from '../src/gate.js';
import { createPool } from '../src/supervisor.js';
import { formatEmitted } from '../src/protocol.js';
import type { EndpointOwner } from '../shared/plugin.js';
import { xmppCarrier } from '../workers/xmpp/plugin.js';
import { eventually } from './support/daemon.js';

/** The echo endpoint (test/support/echo-endpoint.ts), one per `echo.port`; `echo.tag` is the rest of its settings. */
function echo(shared: boolean): EndpointOwner {
  return {
    name: 'echo',
    endpoint: {
      settings: (config) =>
        config.has('echo.port') ? { settings: { port: config.get('echo.port')!.at(-1)!, tag: config.get('echo.tag')?.at(-1) ?? 'same' } } : undefined,
      identity: (settings) => ({ key: String(settings.port), shared, describe: `the echo port ${String(settings.port)}`, unshared: 'one repository per port' }),
      file: new URL('./support/echo-endpoint.js', import.meta.url),
    },
  };
}

interface Repo {
  endpoints: Endpoints;
  out: string[];
  logs: string[];
  gate: ProtocolGate;
  relinked: Map<string, MessagePort>;
  gone: string[];
}

function setup(t: TestContext): { host: EndpointHost; repo(path: string): Repo } {
  const logs: string[] = [];
  const pool = createPool(() => {});
  t.after(() => pool.destroy());
  const host = new EndpointHost({ pool, qualify: true, restartBackoff: { initialMs: 50, maxMs: 100 } });
  const repos: Repo[] = [];
  t.after(() => Promise.all(repos.map((r) => r.endpoints.stop())));
  return {
    host,
    repo(path) {
      const out: string[] = [];
      const gate = new ProtocolGate({ emit: (m) => out.push(formatEmitted(m)), log: () => {} });
      const repo: Repo = { out, logs: [], gate, relinked: new Map(), gone: [], endpoints: undefined! };
      repo.endpoints = new Endpoints({
        pool,
        host,
        repo: { cwd: path, gitDir: `${path}/.git` },
        gate,
        log: (text) => {
          repo.logs.push(text);
          logs.push(`${path}: ${text}`);
        },
        relink: (remote, port) => repo.relinked.set(remote, port),
        gone: (remote) => repo.gone.push(remote),
      });
      repos.push(repo);
      return repo;
    },
  };
}

function ask(port: MessagePort, text: string): Promise<string> {
  return new Promise((resolve) => {
    port.once('message', resolve);
    port.postMessage(text);
  });
}

function closed(port: MessagePort): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the link was not closed')), 10_000);
    port.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

const config = (port: string, tag?: string) => new Map([['echo.port', [port]], ...(tag ? [['echo.tag', [tag]] as [string, string[]]] : [])]);

test('two repositories asking for the same endpoint share one thread; each one\'s origin is its own in it', async (t) => {
  const { host, repo } = setup(t);
  const a = repo('/a');
  const b = repo('/b');
  a.endpoints.configure([echo(true)], config('9000'));
  b.endpoints.configure([echo(true)], config('9000'));
  assert.deepEqual(host.threads(), [{ id: 'echo 9000', repositories: 2 }]);
  const fromA = a.endpoints.link('echo', 'origin', 'https://x')!;
  const fromB = b.endpoints.link('echo', 'origin', 'https://x')!;
  assert.equal(await ask(fromA, 'hi'), 'origin in /a:same:hi');
  assert.equal(await ask(fromB, 'hi'), 'origin in /b:same:hi');
  await eventually(() => a.logs.filter((l) => l.includes('started with')).length === 1, 'started once');
  assert.deepEqual(b.logs.filter((l) => l.includes('started with')), a.logs.filter((l) => l.includes('started with')), 'its log reaches both repositories');

  // Another identity: a thread of its own.
  const c = repo('/c');
  c.endpoints.configure([echo(true)], config('9001'));
  assert.deepEqual(host.threads().map((u) => [u.id, u.repositories]), [
    ['echo 9000', 2],
    ['echo 9001', 1],
  ]);

  // A condition reaches every repository of the thread, once each.
  fromA.postMessage('warn');
  await eventually(() => a.out.includes('WARNING * echo endpoint: something is off') && b.out.includes('WARNING * echo endpoint: something is off'), 'said in both');
  assert.deepEqual(c.out, [], 'not in the repository of another thread');

  // A crash: reported to both, restarted once, and both repositories' remotes relinked.
  fromB.postMessage('crash');
  await eventually(() => a.relinked.has('origin') && b.relinked.has('origin'), 'both relinked');
  assert.ok(a.out.some((l) => /^WARNING \* the echo endpoint failed/.test(l)) && b.out.some((l) => /^WARNING \* the echo endpoint failed/.test(l)));
  assert.equal(await ask(b.relinked.get('origin')!, 'back'), 'origin in /b:same:back');
  assert.equal(await ask(a.relinked.get('origin')!, 'back'), 'origin in /a:same:back');
});

test('same endpoint, different settings: the later repository gets no part and is told why, until the first lets go', async (t) => {
  const { host, repo } = setup(t);
  const a = repo('/a');
  const b = repo('/b');
  a.endpoints.configure([echo(true)], config('9000', 'secret-a'));
  b.endpoints.configure([echo(true)], config('9000', 'secret-b'));
  assert.deepEqual(host.threads(), [{ id: 'echo 9000', repositories: 1 }]);
  const fromA = a.endpoints.link('echo', 'origin', 'https://x')!;
  assert.equal(b.endpoints.link('echo', 'origin', 'https://x'), undefined, 'no part: nothing to link to');
  assert.equal(await ask(fromA, 'hi'), 'origin in /a:secret-a:hi');
  const said = 'WARNING * echo endpoint: the echo port 9000 is already used in this daemon by /a with a different tag; off for this repository until its settings match (one endpoint serves every repository that asks for it with the same settings)';
  assert.deepEqual(b.out, [said]);
  assert.ok(!said.includes('secret-a'), 'which setting differs, never its value');
  assert.deepEqual(b.endpoints.status().map((s) => s.name), ['echo']);
  assert.match(b.endpoints.status()[0]!.summary, /^off: the echo port 9000 is already used/);
  assert.deepEqual(a.out, [], 'the first is not bothered');

  // Settings made equal: B joins, with A's thread (no second start).
  b.endpoints.configure([echo(true)], config('9000', 'secret-a'));
  await eventually(() => b.relinked.has('origin'), 'B linked once it may');
  assert.equal(await ask(b.relinked.get('origin')!, 'hi'), 'origin in /b:secret-a:hi');
  assert.deepEqual(b.gate.held('*'), [], 'its condition is cleared');
  assert.deepEqual(host.threads(), [{ id: 'echo 9000', repositories: 2 }]);

  // Apart again, then A lets go (config removed): the thread takes B's settings.
  b.endpoints.configure([echo(true)], config('9000', 'secret-b'));
  assert.deepEqual(b.gone, ['origin'], 'refused: its remote hears the endpoint is gone');
  a.endpoints.configure([echo(true)], new Map());
  assert.deepEqual(a.gone, ['origin']);
  b.relinked.clear();
  await eventually(() => b.relinked.has('origin'), 'B linked once A let go');
  assert.deepEqual(host.threads(), [{ id: 'echo 9000', repositories: 1 }]);
  assert.equal(await ask(b.relinked.get('origin')!, 'hi'), 'origin in /b:secret-b:hi', 'the thread runs with B\'s settings');
  assert.equal(b.gate.held('*').length, 0, 'no longer refused');
});

test('an identity that cannot be shared: one repository uses it, another is told', async (t) => {
  const { host, repo } = setup(t);
  const a = repo('/a');
  const b = repo('/b');
  a.endpoints.configure([echo(false)], config('7'));
  b.endpoints.configure([echo(false)], config('7'));
  assert.deepEqual(host.threads(), [{ id: 'echo 7', repositories: 1 }]);
  assert.deepEqual(b.out, ['WARNING * echo endpoint: the echo port 7 is already used in this daemon by /a (one repository per port); off for this repository']);
  assert.ok(a.endpoints.link('echo', 'origin', 'u'));
  assert.equal(b.endpoints.link('echo', 'origin', 'u'), undefined);
});

test('PAUSE takes one repository out; the thread stops once no repository wants it, and RESUME brings it back', async (t) => {
  const { host, repo } = setup(t);
  const a = repo('/a');
  const b = repo('/b');
  a.endpoints.configure([echo(true)], config('9000'));
  b.endpoints.configure([echo(true)], config('9000'));
  const fromA = a.endpoints.link('echo', 'origin', 'https://x')!;
  const fromB = b.endpoints.link('echo', 'origin', 'https://x')!;
  assert.equal(await ask(fromA, 'hi'), 'origin in /a:same:hi');

  a.endpoints.control('pause');
  await closed(fromA); // A's part is over: its link closed
  assert.equal(await ask(fromB, 'still'), 'origin in /b:same:still', 'B keeps the same thread');
  assert.deepEqual(host.threads(), [{ id: 'echo 9000', repositories: 1 }]);
  assert.deepEqual(a.endpoints.status(), [{ name: 'echo', summary: PAUSED_ENDPOINT }]);
  assert.deepEqual(a.gone, [], 'paused is not gone');

  b.endpoints.control('pause');
  await closed(fromB);
  assert.deepEqual(host.threads(), [], 'nobody wants it: it stops');

  a.endpoints.control('resume');
  assert.deepEqual(host.threads(), [{ id: 'echo 9000', repositories: 1 }]);
  await eventually(() => a.relinked.has('origin'), 'A relinked');
  assert.equal(await ask(a.relinked.get('origin')!, 'back'), 'origin in /a:same:back');
  b.endpoints.control('resume');
  await eventually(() => b.relinked.has('origin'), 'B relinked into the running thread');
  assert.equal(await ask(b.relinked.get('origin')!, 'back'), 'origin in /b:same:back');
  assert.deepEqual(host.threads(), [{ id: 'echo 9000', repositories: 2 }]);

  // A repository that stops leaves; the other keeps the thread.
  await a.endpoints.stop();
  assert.deepEqual(host.threads(), [{ id: 'echo 9000', repositories: 1 }]);
  assert.equal(await ask(b.relinked.get('origin')!, 'after'), 'origin in /b:same:after');
});

test('LOSTNET reaches a shared endpoint only once every repository using it lost the network; RESUME from any one at once', async (t) => {
  const { repo } = setup(t);
  const a = repo('/a');
  const b = repo('/b');
  a.endpoints.configure([echo(true)], config('9000'));
  b.endpoints.configure([echo(true)], config('9000'));
  // What the endpoint heard last, asked through a remote linked after it: its attach comes on the
  // same channel as the controller's words, so the answer counts every word said before.
  let probes = 0;
  const heard = async () => (await ask(a.endpoints.link('echo', `probe${++probes}`, 'https://x')!, 'control?')).split(':').at(-1);
  assert.equal(await heard(), 'none');
  a.endpoints.control('lostnet');
  assert.equal(await heard(), 'none', 'b still has the network: the endpoint stays on it');
  b.endpoints.control('lostnet');
  assert.equal(await heard(), 'lostnet');
  b.endpoints.control('resume');
  assert.equal(await heard(), 'resume');
});

/** The echo endpoint with `echo.key` each repository's own (as the webhook's secret is): 'bad' cannot be read; at most 2 different. */
function echoOwn(): EndpointOwner {
  const plugin = echo(true);
  const { endpoint } = plugin;
  return {
    name: 'echo',
    endpoint: {
      ...endpoint!,
      settings: (config) => {
        const base = endpoint!.settings(config);
        return base?.settings ? { settings: { ...base.settings, key: config.get('echo.key')?.at(-1) } } : base;
      },
      own: {
        keys: ['key'],
        read: (settings) => {
          if (settings.key === 'bad') throw new Error('the echo key cannot be read');
          return { key: settings.key };
        },
        max: 2,
        describe: 'keys',
      },
    },
  };
}

const ownConfig = (port: string, key: string) => new Map([['echo.port', [port]], ['echo.key', [key]]]);

test("settings a repository has for itself: repositories with different ones share the thread, each remote attached with its repository's; one that cannot be read, or one too many, gets no part alone", async (t) => {
  const { host, repo } = setup(t);
  const a = repo('/a');
  const b = repo('/b');
  a.endpoints.configure([echoOwn()], ownConfig('9000', 'key-a'));
  b.endpoints.configure([echoOwn()], ownConfig('9000', 'key-b'));
  assert.deepEqual(host.threads(), [{ id: 'echo 9000', repositories: 2 }]);
  assert.deepEqual([a.out, b.out], [[], []], 'nobody refused');
  const fromA = a.endpoints.link('echo', 'origin', 'https://x')!;
  const fromB = b.endpoints.link('echo', 'origin', 'https://x')!;
  // The thread's settings never hold them; each attach carries its repository's.
  assert.equal(await ask(fromA, 'own?'), 'origin in /a:own:{"key":"key-a"}:settings:{"port":"9000","tag":"same"}');
  assert.equal(await ask(fromB, 'own?'), 'origin in /b:own:{"key":"key-b"}:settings:{"port":"9000","tag":"same"}');

  // Changed: that repository's remotes attach again with the new one; the other's are untouched.
  b.endpoints.configure([echoOwn()], ownConfig('9000', 'key-b2'));
  await eventually(() => b.relinked.has('origin'), 'B relinked');
  assert.equal(await ask(b.relinked.get('origin')!, 'own?'), 'origin in /b:own:{"key":"key-b2"}:settings:{"port":"9000","tag":"same"}');
  assert.equal(a.relinked.size, 0);

  // A third different one is one too many (max 2): that repository alone is told.
  const c = repo('/c');
  c.endpoints.configure([echoOwn()], ownConfig('9000', 'key-c'));
  assert.deepEqual(c.out, ['WARNING * echo endpoint: the echo port 9000 already serves 2 different keys in this daemon, the most one may; off for this repository']);
  assert.equal(c.endpoints.link('echo', 'origin', 'https://x'), undefined);
  // One equal to a key already served costs nothing more: it joins.
  c.endpoints.configure([echoOwn()], ownConfig('9000', 'key-a'));
  assert.deepEqual(c.gate.held('*'), [], 'its condition is cleared');
  assert.deepEqual(host.threads(), [{ id: 'echo 9000', repositories: 3 }]);

  // One that cannot be read: that repository is off and says why; the others keep the thread.
  b.endpoints.configure([echoOwn()], ownConfig('9000', 'bad'));
  assert.deepEqual(b.out, ['WARNING * echo endpoint: the echo key cannot be read; off for this repository']);
  assert.deepEqual(b.gone, ['origin']);
  assert.ok(!b.out.some((l) => l.includes('key-')), 'never a value in what is said');
  assert.deepEqual(host.threads(), [{ id: 'echo 9000', repositories: 2 }]);
  assert.match(b.endpoints.status()[0]!.summary, /^off: the echo key cannot be read/);
  assert.equal(await ask(fromA, 'still'), 'origin in /a:same:still');
  // Fixed: it joins again, its condition cleared.
  b.relinked.clear();
  b.endpoints.configure([echoOwn()], ownConfig('9000', 'key-b'));
  await eventually(() => b.relinked.has('origin'), 'B linked again');
  assert.equal(await ask(b.relinked.get('origin')!, 'own?'), 'origin in /b:own:{"key":"key-b"}:settings:{"port":"9000","tag":"same"}');
  assert.deepEqual(b.gate.held('*'), []);
  assert.deepEqual(host.threads(), [{ id: 'echo 9000', repositories: 3 }]);
});

/** The XMPP carrier as the host sees it (its settings, identity and own trust list), run by the echo endpoint: no login. */
function xmppEcho(): EndpointOwner {
  return { name: 'xmpp', endpoint: { ...xmppCarrier.endpoint, file: new URL('./support/echo-endpoint.js', import.meta.url) } };
}

const xmppConfig = (trust: string[], more: [string, string][] = []) =>
  new Map<string, string[]>([['remotedaemon.xmpp.jid', ['me@example.org']], ['remotedaemon.xmpp.trust', trust], ...more.map(([k, v]) => [k, [v]] as [string, string[]])]);

test('XMPP: repositories of one account share the login whatever they trust, each remote attached with its repository\'s trust list; a different server or password file is still refused', async (t) => {
  const { host, repo } = setup(t);
  const a = repo('/a');
  const b = repo('/b');
  a.endpoints.configure([xmppEcho()], xmppConfig(['alice@example.org']));
  b.endpoints.configure([xmppEcho()], xmppConfig(['bob@example.org', 'Alice@example.org']));
  assert.deepEqual(host.threads(), [{ id: 'xmpp me@example.org', repositories: 2 }]);
  assert.deepEqual([a.out, b.out], [[], []], 'nobody refused: the trust lists differ, and need not agree');
  const [fromA] = a.endpoints.linkNotices('origin', 'https://x');
  const [fromB] = b.endpoints.linkNotices('origin', 'https://x');
  // The login's settings hold no trust list; each remote's attach carries its repository's, sorted.
  assert.equal(await ask(fromA!.port, 'own?'), 'origin in /a:own:{"trust":["alice@example.org"]}:settings:{"jid":"me@example.org"}');
  assert.equal(await ask(fromB!.port, 'own?'), 'origin in /b:own:{"trust":["alice@example.org","bob@example.org"]}:settings:{"jid":"me@example.org"}');

  // RELOAD with another trust list: that repository's remotes attach again with it, the other's are untouched.
  b.endpoints.configure([xmppEcho()], xmppConfig(['carol@example.org']));
  await eventually(() => b.relinked.has('origin'), 'B relinked');
  assert.equal(await ask(b.relinked.get('origin')!, 'own?'), 'origin in /b:own:{"trust":["carol@example.org"]}:settings:{"jid":"me@example.org"}');
  assert.equal(a.relinked.size, 0);

  // The same account through another server, or with another password file: no part, as before.
  const c = repo('/c');
  c.endpoints.configure([xmppEcho()], xmppConfig(['alice@example.org'], [['remotedaemon.xmpp.service', 'xmpp://elsewhere.example:5222']]));
  assert.deepEqual(c.out, [
    'WARNING * xmpp endpoint: the XMPP account me@example.org is already used in this daemon by /a with a different service; off for this repository until its settings match (one endpoint serves every repository that asks for it with the same settings)',
  ]);
  const d = repo('/d');
  d.endpoints.configure([xmppEcho()], xmppConfig(['alice@example.org'], [['remotedaemon.xmpp.passwordfile', '/elsewhere']]));
  assert.match(d.out.join('\n'), /already used in this daemon by \/a with a different passwordFile; off for this repository/);
  assert.deepEqual(d.endpoints.linkNotices('origin', 'https://x'), [], 'nothing to link to');
  assert.deepEqual(host.threads(), [{ id: 'xmpp me@example.org', repositories: 2 }]);
});
