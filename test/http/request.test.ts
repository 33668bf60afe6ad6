// One ls-refs POST, driven against a loopback node:http server in the test process: what reaches
// `consume`, the answer bound, the timeout, error answers read for a few KiB only, and the one
// retry on a kept-alive socket the server closed.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AnswerTooLarge, post, type PostOptions } from '../../workers/http/request.js';

const GIT_RESULT = 'application/x-git-upload-pack-result';

interface Served {
  url: string;
  agent: http.Agent;
  /** Requests seen, each with the socket it came on (numbered from 1 in order of connection). */
  requests: { socket: number; headers: http.IncomingHttpHeaders; body: Buffer }[];
  /** Sockets closed so far. */
  closed(): number;
}

async function serve(t: TestContext, answer: (req: http.IncomingMessage, res: http.ServerResponse, socket: number, nth: number) => void): Promise<Served> {
  const served: Omit<Served, 'url' | 'agent' | 'closed'> = { requests: [] };
  const ids = new WeakMap<object, number>();
  let sockets = 0;
  let closed = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const socket = ids.get(req.socket)!;
      served.requests.push({ socket, headers: req.headers, body: Buffer.concat(chunks) });
      answer(req, res, socket, served.requests.filter((r) => r.socket === socket).length);
    });
  });
  server.on('connection', (s) => {
    ids.set(s, ++sockets);
    s.on('close', () => closed++);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => {
    agent.destroy();
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { ...served, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/repo.git/git-upload-pack`, agent, closed: () => closed };
}

function options(served: Served, over: Partial<PostOptions> = {}): PostOptions {
  return {
    url: served.url,
    body: Buffer.from('0014command=ls-refs\n0000'),
    headers: { 'Content-Type': 'application/x-git-upload-pack-request' },
    agent: served.agent,
    signal: new AbortController().signal,
    timeoutMs: 10_000,
    maxBytes: 1024 * 1024,
    consume: () => {},
    ...over,
  };
}

async function until(what: string, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

test('a git result goes through consume piece by piece as it arrives, and the post says ok', async (t) => {
  const served = await serve(t, (_req, res) => {
    res.writeHead(200, { 'Content-Type': `${GIT_RESULT}; charset=binary` });
    res.write('first piece,');
    setImmediate(() => res.end('second piece'));
  });
  const seen: string[] = [];
  const result = await post(options(served, { consume: (chunk) => seen.push(chunk.toString()) }));
  assert.deepEqual(result, { kind: 'ok' });
  assert.equal(seen.join(''), 'first piece,second piece');
  const [request] = served.requests;
  assert.equal(request.body.toString(), '0014command=ls-refs\n0000', 'the body is sent as given');
  assert.equal(request.headers['content-length'], String(request.body.length));
  assert.equal(request.headers['content-type'], 'application/x-git-upload-pack-request', 'the caller\'s headers are sent');
});

test('a git result over maxBytes is refused with AnswerTooLarge and not read further', async (t) => {
  const served = await serve(t, (_req, res) => {
    res.writeHead(200, { 'Content-Type': GIT_RESULT });
    const piece = Buffer.alloc(16 * 1024, 'x');
    const pump = () => {
      while (res.write(piece));
    };
    res.on('drain', pump);
    res.on('error', () => {});
    pump();
  });
  let consumed = 0;
  await assert.rejects(
    post(options(served, { maxBytes: 100 * 1024, consume: (chunk) => (consumed += chunk.length) })),
    (err: Error) => err instanceof AnswerTooLarge && /over 102400 bytes/.test(err.message),
  );
  assert.ok(consumed <= 100 * 1024, `consume saw ${consumed} bytes, no more than the bound`);
  await until('the client to hang up on the endless answer', () => served.closed() >= 1);
});

test('a consume that throws abandons the answer with its error', async (t) => {
  const served = await serve(t, (_req, res) => {
    res.writeHead(200, { 'Content-Type': GIT_RESULT });
    res.end('<html>not pkt-lines</html>');
  });
  await assert.rejects(
    post(
      options(served, {
        consume: () => {
          throw new Error('not a git protocol stream');
        },
      }),
    ),
    /not a git protocol stream/,
  );
});

test('an error status gives its status, headers and the start of its body, without consume', async (t) => {
  const served = await serve(t, (_req, res) => {
    res.writeHead(503, { 'Content-Type': 'text/plain', 'Retry-After': '7' });
    res.end('down for maintenance\n');
  });
  let consumed = 0;
  const result = await post(options(served, { consume: () => consumed++ }));
  assert.equal(result.kind, 'status');
  assert.ok(result.kind === 'status');
  assert.equal(result.status, 503);
  assert.equal(result.headers['retry-after'], '7');
  assert.equal(result.text, 'down for maintenance\n');
  assert.equal(consumed, 0);
});

test('an error status with the git content type is still a status, not fed to the parser', async (t) => {
  const served = await serve(t, (_req, res) => {
    res.writeHead(401, { 'Content-Type': GIT_RESULT, 'WWW-Authenticate': 'Basic realm="git"' });
    res.end('0000');
  });
  let consumed = 0;
  const result = await post(options(served, { consume: () => consumed++ }));
  assert.ok(result.kind === 'status');
  assert.equal(result.status, 401);
  assert.equal(consumed, 0);
});

test('a 200 that is not a git result is a status answer, not fed to the parser', async (t) => {
  const served = await serve(t, (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end('<html>login</html>');
  });
  let consumed = 0;
  const result = await post(options(served, { consume: () => consumed++ }));
  assert.ok(result.kind === 'status');
  assert.equal(result.status, 200);
  assert.equal(result.text, '<html>login</html>');
  assert.equal(consumed, 0);
});

test('a long error page is read for a few KiB only: the post answers while the server still sends', async (t) => {
  const served = await serve(t, (_req, res) => {
    res.writeHead(500, { 'Content-Type': 'text/plain' });
    // Never ends: an answer that waited for the end would never come.
    const piece = Buffer.alloc(1024, 'e');
    const pump = () => {
      while (res.write(piece));
    };
    res.on('drain', pump);
    res.on('error', () => {});
    pump();
  });
  const result = await post(options(served));
  assert.ok(result.kind === 'status');
  assert.equal(result.status, 500);
  assert.ok(result.text.length > 0 && result.text.length <= 4096, `${result.text.length} characters of explanation`);
  assert.match(result.text, /^e+$/);
  await until('the half-read socket to be closed, not reused', () => served.closed() >= 1);
});

test('a git result cut short by the server is an error, not an ok', async (t) => {
  const served = await serve(t, (req, res) => {
    res.writeHead(200, { 'Content-Type': GIT_RESULT, 'Content-Length': '100' });
    res.write('0032' + 'a'.repeat(20));
    setImmediate(() => req.socket.destroy());
  });
  await assert.rejects(post(options(served)), /was cut short/);
});

test('a server that never answers: the post gives up after timeoutMs with a message naming the URL', async (t) => {
  const served = await serve(t, () => {});
  const started = Date.now();
  await assert.rejects(post(options(served, { timeoutMs: 200 })), (err: Error) => {
    assert.match(err.message, /^no answer from http:\/\/127\.0\.0\.1:\d+\/repo\.git\/git-upload-pack within 0\.2 s$/);
    return true;
  });
  assert.ok(Date.now() - started < 5000);
});

test('the caller\'s abort is not reported as a timeout', async (t) => {
  const served = await serve(t, () => {});
  const controller = new AbortController();
  const posted = post(options(served, { signal: controller.signal }));
  await until('the request to reach the server', () => served.requests.length === 1);
  controller.abort();
  await assert.rejects(posted, (err: Error) => !/no answer/.test(err.message));
});

test('a kept-alive socket the server closed is retried once on a fresh one', async (t) => {
  const served = await serve(t, (req, res, _socket, nth) => {
    // The second request on a socket finds it closed, as when the server's keep-alive timeout
    // runs out just as the client reuses it.
    if (nth === 2) return req.socket.destroy();
    res.writeHead(200, { 'Content-Type': GIT_RESULT });
    res.end('0000');
  });
  assert.deepEqual(await post(options(served)), { kind: 'ok' });
  assert.deepEqual(await post(options(served)), { kind: 'ok' });
  assert.deepEqual(
    served.requests.map((r) => r.socket),
    [1, 1, 2],
    'asked again on a new socket',
  );
});

test('a fresh socket reset by the server is not retried: nothing says asking again is safe', async (t) => {
  const served = await serve(t, (req) => req.socket.destroy());
  await assert.rejects(post(options(served)), (err: NodeJS.ErrnoException) => err.code === 'ECONNRESET');
  assert.equal(served.requests.length, 1);
});
