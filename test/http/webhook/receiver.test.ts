// workers/http/webhook/receiver.ts: the HTTP side of the webhook receiver, on a real listener on
// loopback in this process, with a fake intake: POST only, a body over the bound refused from its
// declared length without asking the handler, or cut as it streams (the intake aborted, no more
// bytes handed on), a hang-up aborting the intake, an answer from the headers alone closing the
// connection, and connections past MAX_CONNECTIONS dropped. The deadlines (5 s and 10 s) are
// left to test/http/webhook-attack.test.ts.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { MAX_BODY_BYTES, MAX_CONNECTIONS, startReceiver, type Admit, type Intake, type Reply } from '../../../workers/http/webhook/receiver.js';

/** What the fake intake saw. */
interface Seen {
  admitted: http.IncomingHttpHeaders[];
  bytes: number;
  chunks: number;
  ended: number;
  aborted: number;
  abort: Promise<void>;
}

async function receiver(t: TestContext, answer: (headers: http.IncomingHttpHeaders) => Reply | 'intake' = () => 'intake', dropped?: () => void) {
  let aborted!: () => void;
  const seen: Seen = { admitted: [], bytes: 0, chunks: 0, ended: 0, aborted: 0, abort: new Promise<void>((resolve) => (aborted = resolve)) };
  const intake: Intake = {
    write: (chunk) => {
      seen.chunks++;
      seen.bytes += chunk.length;
    },
    end: () => {
      seen.ended++;
      return { status: 202, text: `took ${seen.bytes}\n` };
    },
    abort: () => {
      seen.aborted++;
      aborted();
    },
  };
  const admit: Admit = (headers) => {
    seen.admitted.push(headers);
    const a = answer(headers);
    return a === 'intake' ? intake : a;
  };
  const r = await startReceiver({ host: '127.0.0.1', port: 0, admit, dropped });
  t.after(() => r.close());
  return { port: r.port, seen };
}

/** A test that hangs (a bound not kept) fails in seconds, not at the run's timeout. */
const T = { timeout: 10_000 };

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

function request(port: number, options: http.RequestOptions, body?: string | Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/hook', agent: false, ...options }, (response) => {
      let text = '';
      response.setEncoding('utf8').on('data', (d: string) => (text += d));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('a POST streams its body to the intake, whose answer is the reply', T, async (t) => {
  const { port, seen } = await receiver(t);
  const answer = await request(port, { method: 'POST', headers: { 'X-Test': 'yes' } }, 'x'.repeat(1000));
  assert.equal(answer.status, 202);
  assert.equal(answer.text, 'took 1000\n');
  assert.equal(answer.headers['content-type'], 'text/plain; charset=utf-8');
  assert.equal(answer.headers['content-length'], String(Buffer.byteLength(answer.text)));
  assert.equal(seen.admitted.length, 1);
  assert.equal(seen.admitted[0]['x-test'], 'yes');
  assert.deepEqual([seen.bytes, seen.ended, seen.aborted], [1000, 1, 0]);
});

test('any other method is 405 with Allow: POST, and the handler is never asked', T, async (t) => {
  const { port, seen } = await receiver(t);
  for (const method of ['GET', 'PUT', 'DELETE', 'HEAD']) {
    const answer = await request(port, { method }, method === 'GET' || method === 'HEAD' ? undefined : 'body');
    assert.equal(answer.status, 405, method);
    assert.equal(answer.headers.allow, 'POST');
    assert.equal(answer.headers.connection, 'close');
  }
  assert.equal(seen.admitted.length, 0);
});

test('a declared length over the bound is 413 before the handler is asked or a byte is read', T, async (t) => {
  const { port, seen } = await receiver(t);
  const answer = await new Promise<Answer>((resolve, reject) => {
    // Declares more than it sends: an answer must come without waiting for the rest.
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', agent: false, headers: { 'Content-Length': String(MAX_BODY_BYTES + 1) } }, (response) => {
      let text = '';
      response.setEncoding('utf8').on('data', (d: string) => (text += d));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text }));
    });
    req.on('error', reject);
    req.write('x'.repeat(100));
  });
  assert.equal(answer.status, 413);
  assert.equal(answer.text, `the body is over ${MAX_BODY_BYTES} bytes\n`);
  assert.equal(answer.headers.connection, 'close');
  assert.equal(seen.admitted.length, 0);
  assert.equal(seen.bytes, 0);
});

test('a chunked body that grows past the bound is cut: the intake aborted, 413, nothing more handed on', T, async (t) => {
  const { port, seen } = await receiver(t);
  const answer = await new Promise<Answer>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', agent: false, headers: { 'Transfer-Encoding': 'chunked' } }, (response) => {
      let text = '';
      response.setEncoding('utf8').on('data', (d: string) => (text += d));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text }));
    });
    req.on('error', () => {}); // the receiver closes on us mid-body: expected
    const chunk = Buffer.alloc(64 * 1024, 'y');
    // Keep writing until the answer comes (a real attacker would too).
    const pump = () => {
      if (req.destroyed) return;
      while (req.write(chunk));
      req.once('drain', pump);
    };
    req.once('response', () => req.destroy());
    pump();
    req.on('close', () => reject(new Error('closed without an answer')));
  });
  assert.equal(answer.status, 413);
  await seen.abort;
  assert.equal(seen.aborted, 1);
  assert.equal(seen.ended, 0);
  assert.ok(seen.bytes <= MAX_BODY_BYTES, `${seen.bytes} bytes handed on`);
});

test('an answer from the headers alone is sent without reading the body, and the connection closed', T, async (t) => {
  const { port, seen } = await receiver(t, () => ({ status: 401, text: 'no\n' }));
  // A client that would keep the connection: the receiver closes it all the same.
  const agent = new http.Agent({ keepAlive: true });
  t.after(() => agent.destroy());
  const answer = await request(port, { method: 'POST', agent }, 'z'.repeat(10_000));
  assert.deepEqual([answer.status, answer.text, answer.headers.connection], [401, 'no\n', 'close']);
  assert.equal(seen.admitted.length, 1);
  assert.equal(seen.chunks, 0);
});

test('a sender that hangs up mid-body has its intake aborted, and it is not ended', T, async (t) => {
  const { port, seen } = await receiver(t);
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(`POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n${'a'.repeat(10)}`);
  // Wait until the handler has the request, then go.
  while (seen.admitted.length === 0) await new Promise((resolve) => setImmediate(resolve));
  socket.destroy();
  await seen.abort;
  assert.deepEqual([seen.aborted, seen.ended], [1, 0]);
});

test(`connections past ${MAX_CONNECTIONS} are closed as they arrive, each said`, T, async (t) => {
  let drops = 0;
  let dropped!: () => void;
  const firstDrop = new Promise<void>((resolve) => (dropped = resolve));
  const { port } = await receiver(t, undefined, () => {
    drops++;
    dropped();
  });
  const sockets: net.Socket[] = [];
  t.after(() => sockets.forEach((s) => s.destroy()));
  for (let i = 0; i < MAX_CONNECTIONS; i++) {
    const s = net.connect(port, '127.0.0.1');
    sockets.push(s);
    await once(s, 'connect');
  }
  // Accepted in the order they queued: the next one is past the limit.
  const extra = net.connect(port, '127.0.0.1');
  sockets.push(extra);
  extra.on('error', () => {});
  await once(extra, 'close');
  await firstDrop;
  assert.equal(drops, 1);
  // The connections held are still served.
  const first = sockets[0];
  first.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  const [data] = (await once(first, 'data')) as [Buffer];
  assert.match(data.toString(), /^HTTP\/1\.1 405/);
});
