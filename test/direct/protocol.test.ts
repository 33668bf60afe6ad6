// The direct fetch's protocol v2 and v0 clients (workers/direct/protocol.ts) against a fake channel, the test
// playing upload-pack: which capability advertisements it accepts, the exact ls-refs and fetch
// requests it writes, how a pack's sidebands reach the sink, every way a server can break off or
// break the protocol (each a rejection, never a hang), and that a slow sink pauses the channel.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { DELIM, FLUSH, pktLine } from '../../workers/wire/pktline.js';
import { UploadPackV0, UploadPackV2, WireError, type PackSink } from '../../workers/direct/protocol.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);

/** An ssh channel as far as UploadPackV2 uses one: what was written, and pause/resume/close in order. */
class FakeChannel extends EventEmitter {
  readonly writes: Buffer[] = [];
  readonly calls: string[] = [];
  readonly stderr = new EventEmitter();
  write(data: Buffer): boolean {
    this.writes.push(data);
    return true;
  }
  pause(): void {
    this.calls.push('pause');
  }
  resume(): void {
    this.calls.push('resume');
  }
  close(): void {
    this.calls.push('close');
  }
  /** The server says `parts`, as one chunk. */
  say(...parts: (string | Buffer)[]): void {
    this.emit('data', Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p))));
  }
}

const CAPS = ['version 2', 'agent=git/2.45.1', 'ls-refs=unborn', 'fetch=shallow wait-for-done', 'server-option', 'object-format=sha1'];
const ADVERT = Buffer.concat([...CAPS.map((c) => pktLine(`${c}\n`)), FLUSH]);

/** A sideband packet: the band byte, then `body`. */
function band(n: number, body: string | Buffer): Buffer {
  return pktLine(Buffer.concat([Buffer.from([n]), typeof body === 'string' ? Buffer.from(body) : body]));
}

/** A sink that records what reaches it. */
function recorder(): PackSink & { chunks: string[]; lines: string[] } {
  const sink = {
    chunks: [] as string[],
    lines: [] as string[],
    data: async (chunk: Buffer) => void sink.chunks.push(chunk.toString('latin1')),
    progress: (line: string) => void sink.lines.push(line),
  };
  return sink;
}

/** Asserts a WireError whose message matches `re`. */
function wireError(re: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof WireError, `not a WireError: ${String(err)}`);
    assert.match(err.message, re);
    return true;
  };
}

/** A client past the capabilities. */
async function ready(): Promise<{ channel: FakeChannel; wire: UploadPackV2 }> {
  const channel = new FakeChannel();
  const wire = new UploadPackV2(channel, [ADVERT]);
  await wire.capabilities();
  return { channel, wire };
}

const FETCH_REQUEST =
  '0012command=fetch\n' +
  '001cagent=git-remote-daemon\n' +
  '0001' +
  '000ethin-pack\n' +
  '000eofs-delta\n' +
  `0032want ${A}\n` +
  `0032want ${B}\n` +
  `0032have ${C}\n` +
  '0009done\n' +
  '0000';

// --- capabilities ---

test('a v2 server serving ls-refs and fetch in SHA-1 is accepted, its capabilities returned', async () => {
  const channel = new FakeChannel();
  const wire = new UploadPackV2(channel);
  const caps = wire.capabilities();
  channel.say(ADVERT);
  assert.deepEqual([...(await caps)], CAPS.slice(1));
  assert.deepEqual(channel.writes, [], 'the capabilities are only read');
});

test('an advertisement given as early chunks split at odd places is read as one', async () => {
  const cuts = [1, 3, 4, 9, 30, ADVERT.length - 3, ADVERT.length - 1];
  const early = [0, ...cuts].map((from, i) => ADVERT.subarray(from, cuts[i] ?? ADVERT.length));
  assert.equal(Buffer.concat(early).toString(), ADVERT.toString());
  const wire = new UploadPackV2(new FakeChannel(), early);
  assert.deepEqual([...(await wire.capabilities())], CAPS.slice(1));
  assert.equal(wire.received, ADVERT.length);
});

test('a server without object-format is taken as SHA-1', async () => {
  const channel = new FakeChannel();
  const wire = new UploadPackV2(channel, [Buffer.concat([pktLine('version 2\n'), pktLine('ls-refs\n'), pktLine('fetch\n'), FLUSH])]);
  assert.deepEqual([...(await wire.capabilities())], ['ls-refs', 'fetch']);
});

test('a v0 advertisement, an ERR, a server without fetch or ls-refs, and SHA-256 are each refused', async () => {
  const refused = (advert: Buffer) => new UploadPackV2(new FakeChannel(), [advert]).capabilities();
  await assert.rejects(refused(Buffer.concat([pktLine(`${A} HEAD\0multi_ack thin-pack side-band\n`), pktLine(`${A} refs/heads/main\n`), FLUSH])), wireError(/does not speak protocol v2/));
  await assert.rejects(refused(pktLine('ERR access denied or repository not exported\n')), wireError(/does not speak protocol v2/));
  await assert.rejects(refused(FLUSH), wireError(/does not speak protocol v2/));
  await assert.rejects(refused(Buffer.concat([pktLine('version 2\n'), pktLine('ls-refs=unborn\n'), FLUSH])), wireError(/^the server offers no ls-refs or fetch$/));
  await assert.rejects(refused(Buffer.concat([pktLine('version 2\n'), pktLine('fetch=shallow\n'), FLUSH])), wireError(/^the server offers no ls-refs or fetch$/));
  await assert.rejects(
    refused(Buffer.concat([pktLine('version 2\n'), pktLine('ls-refs\n'), pktLine('fetch\n'), pktLine('object-format=sha256\n'), FLUSH])),
    wireError(/^the server's object-format=sha256 is not ours$/),
  );
  await assert.rejects(refused(Buffer.concat([pktLine('version 2\n'), DELIM])), wireError(/unexpected delim packet in the capabilities/));
});

test('bytes that are not a pkt-line are refused', async () => {
  await assert.rejects(new UploadPackV2(new FakeChannel(), [Buffer.from('HTTP/1.1 400 Bad Request\r\n')]).capabilities(), wireError(/not a pkt-line header/));
  const channel = new FakeChannel();
  const wire = new UploadPackV2(channel);
  const caps = wire.capabilities();
  channel.say(pktLine('version 2\n'), '0003');
  await assert.rejects(caps, wireError(/length 3/));
});

test('a channel that closes before the advertisement ends rejects, with the server\'s stderr', async () => {
  const channel = new FakeChannel();
  const wire = new UploadPackV2(channel);
  const caps = wire.capabilities();
  channel.say(pktLine('version 2\n'));
  channel.stderr.emit('data', Buffer.from('fatal: \'/r\' does not appear to be a git repository\n'));
  channel.emit('close');
  await assert.rejects(caps, wireError(/^upload-pack ended: fatal: '\/r' does not appear to be a git repository$/));
});

// --- ls-refs ---

test('lsRefs writes the ls-refs request with the ref prefixes and returns the refs', async () => {
  const { channel, wire } = await ready();
  const refs = wire.lsRefs(['refs/heads/', 'refs/tags/']);
  assert.deepEqual(
    channel.writes.map((w) => w.toString()),
    ['0014command=ls-refs\n' + '001cagent=git-remote-daemon\n' + '0001' + '001bref-prefix refs/heads/\n' + '001aref-prefix refs/tags/\n' + '0000'],
  );
  channel.say(pktLine(`${A} refs/heads/main\n`), pktLine(`${B} refs/heads/dev\n`));
  channel.say(pktLine(`${C} refs/tags/v1\n`), FLUSH);
  assert.deepEqual([...(await refs)], [['refs/heads/main', A], ['refs/heads/dev', B], ['refs/tags/v1', C]]);
});

test('an empty ref list is a valid answer', async () => {
  const { channel, wire } = await ready();
  const refs = wire.lsRefs(['refs/heads/']);
  channel.say(FLUSH);
  assert.equal((await refs).size, 0);
});

test('a malformed ref line, or a delim in the ref list, is an error', async () => {
  {
    const { channel, wire } = await ready();
    const refs = wire.lsRefs(['refs/heads/']);
    channel.say(pktLine(`${A} refs/heads/main\n`), pktLine('nonsense\n'), FLUSH);
    await assert.rejects(refs, /not a ref line: "nonsense"/);
  }
  {
    const { channel, wire } = await ready();
    const refs = wire.lsRefs(['refs/heads/']);
    channel.say(pktLine(`${A.slice(1)} refs/heads/main\n`), FLUSH);
    await assert.rejects(refs, /not a ref line/);
  }
  {
    const { channel, wire } = await ready();
    const refs = wire.lsRefs(['refs/heads/']);
    channel.say(pktLine(`${A} refs/heads/main\n`), DELIM);
    await assert.rejects(refs, wireError(/^unexpected delim packet in the ref list$/));
  }
});

// --- fetch ---

test('fetch writes want, have and done; the pack reaches the sink in order, progress line by line', async () => {
  const { channel, wire } = await ready();
  const sink = recorder();
  const done = wire.fetch([A, B], [C], sink);
  assert.equal(channel.writes.length, 1);
  assert.equal(channel.writes[0].toString(), FETCH_REQUEST);
  channel.say(pktLine('packfile\n'), band(2, 'Enumerating objects: 3, done.\n'), band(1, 'PACK'), band(1, '\0\0\0\x02'));
  channel.say(band(2, 'Counting objects:  50% (1/2)\rCounting objects: 100% (2/2), done.\r\n'), band(1, 'rest'), FLUSH);
  await done;
  assert.deepEqual(sink.chunks, ['PACK', '\0\0\0\x02', 'rest']);
  assert.deepEqual(sink.lines, ['Enumerating objects: 3, done.', 'Counting objects:  50% (1/2)', 'Counting objects: 100% (2/2), done.']);
});

test('fetch with no haves writes only wants and done', async () => {
  const { channel, wire } = await ready();
  const done = wire.fetch([A], [], recorder());
  assert.equal(channel.writes[0].toString(), '0012command=fetch\n001cagent=git-remote-daemon\n0001000ethin-pack\n000eofs-delta\n' + `0032want ${A}\n` + '0009done\n0000');
  channel.say(pktLine('packfile\n'), FLUSH);
  await done;
});

test('sideband 3 rejects the fetch with the server\'s words', async () => {
  const { channel, wire } = await ready();
  const sink = recorder();
  const done = wire.fetch([A], [], sink);
  channel.say(pktLine('packfile\n'), band(1, 'PACK'), band(3, 'fatal: git upload-pack: not our ref aaaa\n'));
  await assert.rejects(done, wireError(/^the server: fatal: git upload-pack: not our ref aaaa$/));
  assert.deepEqual(sink.chunks, ['PACK']);
});

test('an unknown sideband, an empty packet or a delim in the pack rejects the fetch', async () => {
  const run = async (...parts: Buffer[]) => {
    const { channel, wire } = await ready();
    const done = wire.fetch([A], [], recorder());
    channel.say(pktLine('packfile\n'), ...parts);
    return done;
  };
  await assert.rejects(run(band(5, 'x')), wireError(/^sideband 5 is not one of git's$/));
  await assert.rejects(run(pktLine('')), wireError(/unexpected data packet in the pack/));
  await assert.rejects(run(band(1, 'PACK'), DELIM), wireError(/unexpected delim packet in the pack/));
});

test('an answer without the packfile header rejects the fetch', async () => {
  const run = async (...parts: Buffer[]) => {
    const { channel, wire } = await ready();
    const sink = recorder();
    const done = wire.fetch([A], [C], sink);
    channel.say(...parts);
    await assert.rejects(done, wireError(/^expected the packfile section, got /));
    assert.deepEqual(sink.chunks, []);
    return done.catch((err: Error) => err.message);
  };
  assert.equal(await run(pktLine('acknowledgments\n'), pktLine('NAK\n'), FLUSH), 'expected the packfile section, got "acknowledgments"');
  assert.equal(await run(pktLine('shallow-info\n'), DELIM), 'expected the packfile section, got "shallow-info"');
  assert.equal(await run(FLUSH), 'expected the packfile section, got a flush packet');
});

test('a channel closing mid-pack rejects, naming upload-pack and giving its stderr', async () => {
  const { channel, wire } = await ready();
  const sink = recorder();
  const done = wire.fetch([A], [], sink);
  channel.say(pktLine('packfile\n'), band(1, 'PACK'), band(1, 'more').subarray(0, 6));
  channel.stderr.emit('data', Buffer.from('fatal: the remote end hung up\n'));
  channel.stderr.emit('data', Buffer.from('error: pack-objects died\n'));
  channel.emit('close');
  await assert.rejects(done, wireError(/^upload-pack ended: fatal: the remote end hung up\nerror: pack-objects died$/));
  assert.deepEqual(sink.chunks, ['PACK'], 'what came whole before the close was delivered');
});

test('a channel closing mid-pack without stderr rejects with upload-pack ended', async () => {
  const { channel, wire } = await ready();
  const done = wire.fetch([A], [], recorder());
  channel.say(pktLine('packfile\n'));
  channel.emit('close');
  await assert.rejects(done, wireError(/^upload-pack ended$/));
});

test('garbage in the middle of a pack rejects the fetch, after the chunks that came before it', async () => {
  const { channel, wire } = await ready();
  const sink = recorder();
  const done = wire.fetch([A], [], sink);
  channel.say(pktLine('packfile\n'), band(1, 'PACK'));
  channel.say('zzzz');
  await assert.rejects(done, wireError(/not a pkt-line header: "zzzz"/));
  assert.deepEqual(sink.chunks, ['PACK']);
});

test('a slow sink with more than 64 packets waiting pauses the channel, and resumes it once they drain', async () => {
  const { channel, wire } = await ready();
  const gates: (() => void)[] = [];
  const chunks: string[] = [];
  const sink: PackSink = {
    data: (chunk) => {
      chunks.push(chunk.toString());
      return new Promise<void>((resolve) => gates.push(resolve));
    },
    progress: () => {},
  };
  const done = wire.fetch([A], [], sink);
  const packets = Array.from({ length: 100 }, (_, i) => band(1, `p${i}`));
  channel.say(pktLine('packfile\n'), ...packets);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(channel.calls, ['pause']);
  assert.deepEqual(chunks, ['p0'], 'the sink holds the first chunk');
  // Let the sink take chunks one at a time until the queue is under half: then the channel resumes.
  while (channel.calls.length < 2 && gates.length > 0) {
    gates.shift()!();
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.deepEqual(channel.calls, ['pause', 'resume']);
  // 101 queued (the header and 100 pack packets), resumed at the take that left 31 (under half of
  // 64): the header and p0..p68.
  assert.equal(chunks.length, 69);
  channel.say(FLUSH);
  while (gates.length > 0) {
    gates.shift()!();
    await new Promise((resolve) => setImmediate(resolve));
  }
  await done;
  assert.deepEqual(chunks, packets.map((_, i) => `p${i}`));
  assert.deepEqual(channel.calls, ['pause', 'resume']);
});

test('fewer than 64 packets waiting never pause the channel', async () => {
  const { channel, wire } = await ready();
  const sink = recorder();
  const done = wire.fetch([A], [], sink);
  channel.say(pktLine('packfile\n'), ...Array.from({ length: 60 }, (_, i) => band(1, `p${i}`)), FLUSH);
  await done;
  assert.equal(sink.chunks.length, 60);
  assert.deepEqual(channel.calls, []);
});

// --- the rest ---

test('onData is called for each chunk, early ones included, and received counts their bytes', async () => {
  const channel = new FakeChannel();
  let calls = 0;
  const early = [ADVERT.subarray(0, 10), ADVERT.subarray(10)];
  const wire = new UploadPackV2(channel, early, () => calls++);
  assert.equal(calls, 2);
  await wire.capabilities();
  const refs = wire.lsRefs(['refs/heads/']);
  const line = pktLine(`${A} refs/heads/main\n`);
  channel.say(line.subarray(0, 5));
  channel.say(line.subarray(5));
  channel.say(FLUSH);
  await refs;
  assert.equal(calls, 5);
  assert.equal(wire.received, ADVERT.length + line.length + 4);
});

test('close() closes the channel; what is still awaited rejects, and data after it is ignored', async () => {
  const { channel, wire } = await ready();
  const refs = wire.lsRefs(['refs/heads/']);
  wire.close();
  assert.deepEqual(channel.calls, ['close']);
  await assert.rejects(refs, wireError(/^closed$/));
  const before = wire.received;
  channel.say(pktLine(`${A} refs/heads/main\n`));
  assert.equal(wire.received, before);
});

// --- protocol v0, as a peer's node serves it ---

const V0_CAPS = 'multi_ack thin-pack side-band side-band-64k ofs-delta shallow agent=git/2.39.5';
/** A v0 advertisement: the first ref line carries the capabilities after a NUL; peeled lines follow tags. */
const V0_ADVERT = Buffer.concat([
  pktLine(`${A} HEAD\0${V0_CAPS}\n`),
  pktLine(`${A} refs/heads/main\n`),
  pktLine(`${B} refs/tags/v1\n`),
  pktLine(`${C} refs/tags/v1^{}\n`),
  FLUSH,
]);

test('v0: the refs come from the advertisement, peeled lines and refs outside the prefixes left out; a fetch asks with the capabilities the server offered', async () => {
  const ch = new FakeChannel();
  const wire = new UploadPackV0(ch, [V0_ADVERT.subarray(0, 9), V0_ADVERT.subarray(9)]);
  assert.deepEqual([...(await wire.refs(['refs/heads/', 'refs/tags/']))], [['refs/heads/main', A], ['refs/tags/v1', B]]);
  assert.deepEqual([...(await wire.refs(['refs/heads/']))], [['refs/heads/main', A]]);
  const sink = recorder();
  const fetching = wire.fetch([B, C], [A], sink);
  assert.equal(
    Buffer.concat(ch.writes).toString(),
    `${pktLine(`want ${B} side-band-64k thin-pack ofs-delta agent=git-remote-daemon\n`)}${pktLine(`want ${C}\n`)}0000${pktLine(`have ${A}\n`)}${pktLine('done\n')}`,
    'the request went out in the turn fetch() was called',
  );
  ch.say(pktLine(`ACK ${A}\n`), band(2, 'Counting objects: 1\r'), band(1, 'PACK...'), FLUSH);
  await fetching;
  assert.deepEqual(sink.chunks, ['PACK...']);
  assert.deepEqual(sink.lines, ['Counting objects: 1']);
});

test('v0: NAK then the pack; nothing() ends a session without wants with a flush', async () => {
  const ch = new FakeChannel();
  const wire = new UploadPackV0(ch, [V0_ADVERT]);
  await wire.refs(['refs/heads/']);
  const sink = recorder();
  const fetching = wire.fetch([B], [], sink);
  ch.say(pktLine('NAK\n'), band(1, 'PACK'), FLUSH);
  await fetching;
  assert.deepEqual(sink.chunks, ['PACK']);
  const other = new FakeChannel();
  const idle = new UploadPackV0(other, [V0_ADVERT]);
  await idle.refs(['refs/heads/']);
  idle.nothing();
  assert.equal(Buffer.concat(other.writes).toString(), '0000');
});

test('v0: an ERR, a v1 answer, no capabilities, no side-band-64k, another object format, a malformed ref line or an empty answer are refused', async () => {
  const refused = async (advert: Buffer, re: RegExp) => {
    const ch = new FakeChannel();
    await assert.rejects(new UploadPackV0(ch, [advert]).refs(['refs/']), wireError(re));
  };
  await refused(Buffer.concat([pktLine('ERR access denied\n'), FLUSH]), /the server said: access denied/);
  await refused(Buffer.concat([pktLine('version 1\n'), FLUSH]), /speaks version 1, not v0/);
  await refused(Buffer.concat([pktLine(`${A} refs/heads/main\n`), FLUSH]), /carries no capabilities/);
  await refused(Buffer.concat([pktLine(`${A} HEAD\0thin-pack ofs-delta\n`), FLUSH]), /no side-band-64k/);
  await refused(Buffer.concat([pktLine(`${A} HEAD\0side-band-64k object-format=sha256\n`), FLUSH]), /object-format=sha256 is not ours/);
  await refused(Buffer.concat([pktLine(`${A} HEAD\0side-band-64k\n`), pktLine('zzz refs/heads/x\n'), FLUSH]), /not a ref line/);
  await refused(FLUSH, /no ref advertisement/);
});

test('v0: after the request, anything but ACK, NAK or a sideband packet is refused, and so is a server that ends mid-pack', async () => {
  const ch = new FakeChannel();
  const wire = new UploadPackV0(ch, [V0_ADVERT]);
  await wire.refs(['refs/heads/']);
  const fetching = wire.fetch([B], [A], recorder());
  ch.say(pktLine('shallow abc\n'));
  await assert.rejects(fetching, wireError(/expected ACK or NAK, got "shallow abc"/));
  const ended = new FakeChannel();
  const cut = new UploadPackV0(ended, [V0_ADVERT]);
  await cut.refs(['refs/heads/']);
  const cutting = cut.fetch([B], [], recorder());
  ended.say(pktLine('NAK\n'), band(1, 'PA'));
  ended.emit('close');
  await assert.rejects(cutting, wireError(/upload-pack ended/));
});
