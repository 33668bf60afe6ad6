// workers/p2p/uploadpack.ts: one git session served to a peer, with the peer's side played by a
// duplex stream in this process and a real `git upload-pack` on a throwaway repository. What the
// peer sees is the v0 advertisement of what it is shown only (even when the environment asks for
// v2); a request for anything else gets an ERR line and ends the session; a peer that hangs up
// ends upload-pack quietly; an upload-pack that fails is logged with what it said.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { serveUploadPack, UPLOAD_PACK_ARGS } from '../../workers/p2p/uploadpack.js';
import { parseShowRules, ShownRefs } from '../../workers/p2p/shown.js';
import type { ChannelStream } from '../../workers/p2p/channelstream.js';
import { commit, git, tempDir } from '../support/git.js';

const T = { timeout: 10_000 };

/** The peer's end: what it writes goes to upload-pack (through the guard), what it is sent is kept. */
class Peer extends Duplex {
  readonly received: Buffer[] = [];
  private firstByte!: () => void;
  readonly heardSomething = new Promise<void>((resolve) => (this.firstByte = resolve));
  constructor() {
    super({ allowHalfOpen: true });
  }
  override _read(): void {}
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.received.push(chunk);
    this.firstByte();
    done();
  }
  /** Sends pkt-lines (a string each; '' is a flush). */
  say(...lines: string[]): void {
    for (const line of lines) this.push(line === '' ? '0000' : `${(line.length + 4).toString(16).padStart(4, '0')}${line}`);
  }
  /** What it was sent, as pkt-line payloads ('' for a flush). */
  lines(): string[] {
    const all = Buffer.concat(this.received).toString('latin1');
    const out: string[] = [];
    for (let at = 0; at + 4 <= all.length; ) {
      const length = parseInt(all.slice(at, at + 4), 16);
      if (length === 0) {
        out.push('');
        at += 4;
        continue;
      }
      out.push(all.slice(at + 4, at + length));
      at += length;
    }
    return out;
  }
}

interface Repo {
  gitDir: string;
  main: string;
  hidden: string;
}

/** main and a tag shown; a tracking ref and a note's commit not (they are no branch or tag). */
function repo(t: TestContext): Repo {
  const d = tempDir('grd-uploadpack-');
  t.after(d.cleanup);
  git(d.path, 'init', '-q', '-b', 'main');
  const main = commit(d.path, 'shown');
  git(d.path, 'tag', 'v1');
  const tree = git(d.path, 'rev-parse', 'HEAD^{tree}');
  const hidden = git(d.path, 'commit-tree', '-m', 'hidden', tree);
  git(d.path, 'update-ref', 'refs/remotes/work/secret', hidden);
  git(d.path, 'update-ref', 'refs/notes/commits', hidden);
  return { gitDir: `${d.path}/.git`, main, hidden };
}

function serve(r: Repo, peer: Peer, logs: string[]): Promise<void> {
  const shown = new ShownRefs(r.gitDir, parseShowRules([]).rules);
  return serveUploadPack(peer as unknown as ChannelStream, r.gitDir, shown, (text) => logs.push(text));
}

const refsIn = (lines: string[]) => lines.filter((l) => /^[0-9a-f]{40} /.test(l)).map((l) => l.slice(41).split('\0')[0].trimEnd());

test('the peer is advertised what it is shown, in v0 even when the environment asks for v2; a flush ends the session cleanly', T, async (t) => {
  const r = repo(t);
  const peer = new Peer();
  const logs: string[] = [];
  const before = process.env.GIT_PROTOCOL;
  process.env.GIT_PROTOCOL = 'version=2';
  let served: Promise<void>;
  try {
    served = serve(r, peer, logs);
  } finally {
    if (before === undefined) delete process.env.GIT_PROTOCOL;
    else process.env.GIT_PROTOCOL = before;
  }
  peer.say(''); // ls-remote: it read the listing and wants nothing
  await served;
  const lines = peer.lines();
  assert.ok(!lines[0].startsWith('version 2'), lines[0]);
  assert.deepEqual(refsIn(lines).sort(), ['HEAD', 'refs/heads/main', 'refs/tags/v1']);
  assert.ok(lines.every((l) => !l.includes(r.hidden)), 'no hidden value anywhere in the advertisement');
  assert.deepEqual(logs, []);
});

test('a want of a value it was not shown ends the session with an ERR line the peer\'s git prints, and says so in the log', T, async (t) => {
  const r = repo(t);
  const peer = new Peer();
  const logs: string[] = [];
  const served = serve(r, peer, logs);
  await peer.heardSomething;
  peer.say(`want ${r.hidden}\n`, '', 'done\n');
  await served;
  const last = peer.lines().at(-1) ?? '';
  assert.match(last, /^ERR upload-pack: .+\n$/);
  assert.equal(logs.length, 1, logs.join('\n'));
  assert.match(logs[0], /^refused a request from a peer: /);
  assert.ok(logs[0].endsWith(last.slice('ERR upload-pack: '.length, -1)), `${logs[0]} / ${last}`);
});

test('a want of a shown value gets its pack', T, async (t) => {
  const r = repo(t);
  const peer = new Peer();
  const logs: string[] = [];
  const served = serve(r, peer, logs);
  await peer.heardSomething;
  peer.say(`want ${r.main}\n`, '', 'done\n');
  await served;
  assert.ok(Buffer.concat(peer.received).includes('PACK'), 'a packfile was sent');
  assert.deepEqual(logs, []);
});

test('a peer that hangs up ends upload-pack, with no log line', T, async (t) => {
  const r = repo(t);
  const peer = new Peer();
  const logs: string[] = [];
  const served = serve(r, peer, logs);
  await peer.heardSomething;
  peer.destroy();
  await served;
  assert.deepEqual(logs, []);
});

test('an upload-pack that fails is logged with its exit and what it said', T, async (t) => {
  const d = tempDir('grd-uploadpack-');
  t.after(d.cleanup);
  const peer = new Peer();
  const logs: string[] = [];
  const shown = new ShownRefs(d.path, parseShowRules([]).rules);
  // --strict: a directory that is not itself a git dir is refused, even with a .git below it.
  git(d.path, 'init', '-q');
  await serveUploadPack(peer as unknown as ChannelStream, d.path, shown, (text) => logs.push(text));
  assert.equal(logs.length, 1, logs.join('\n'));
  assert.match(logs[0], /^git upload-pack ended with 128: fatal: .*not appear to be a git repository/);
});

test('upload-pack is run with wants held to advertised tips, no filters, only branches and tags, a timeout', () => {
  const config = UPLOAD_PACK_ARGS.flatMap((arg, i) => (UPLOAD_PACK_ARGS[i - 1] === '-c' ? [arg] : []));
  for (const setting of ['uploadpack.allowTipSHA1InWant=false', 'uploadpack.allowReachableSHA1InWant=false', 'uploadpack.allowAnySHA1InWant=false', 'uploadpack.allowFilter=false', 'uploadpack.hideRefs=refs', 'uploadpack.hideRefs=!refs/heads', 'uploadpack.hideRefs=!refs/tags']) {
    assert.ok(config.includes(setting), setting);
  }
  const rest = UPLOAD_PACK_ARGS.slice(UPLOAD_PACK_ARGS.indexOf('upload-pack'));
  assert.equal(rest[0], 'upload-pack');
  assert.ok(rest.includes('--strict'));
  assert.ok(rest.some((a) => /^--timeout=\d+$/.test(a)));
});
