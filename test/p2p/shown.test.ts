// A peer gets what it is shown and nothing else. A, which also fetches from a private remote
// `work` (its history lands in refs/remotes/work/*, a tag on it is auto-followed into refs/tags/),
// allows peer B to fetch. B attacks from outside A's process: by hand with git through
// git-remote-p2p, and as a hand-made peer that speaks upload-pack's protocol itself over B's key
// on the testnet, asking for protocol v2 as git-remote-p2p does and using whatever it is answered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import DHT from 'hyperdht';
import { commit, git } from '../support/git.js';
import { startDaemon } from '../support/daemon.js';
import { loadIdentity } from '../../workers/p2p/identity.js';
import { keyOf } from '../../workers/p2p/address.js';
import { PeerConnection } from '../../workers/p2p/wire.js';
import { gitRun, logged, makePeers, type Peers } from './support.js';

interface Scene {
  p: Peers;
  a: string;
  b: string;
  /** A commit only on refs/remotes/work/main, its parent (also hidden), and blobs of each. */
  secret: string;
  secretParent: string;
  secretBlob: string;
  secretParentBlob: string;
  /** The annotated tag object `work-secret` (auto-followed from work into A's refs/tags/). */
  secretTag: string;
  main: string;
  mainBlob: string;
}

async function scene(t: { after(fn: () => unknown): void }): Promise<Scene> {
  const p = await makePeers(t);
  const a = p.make('a', { seed: true });
  commitFile(a, 'readme.txt', 'public\n');
  git(a, 'tag', 'v1'); // A's own tag, on its own branch: shown
  const b = p.make('b');
  const work = join(p.root, 'work');
  git(p.root, 'clone', '-q', a, work);
  const secretParent = commitFile(work, 'plans.txt', 'the secret parent\n');
  const secret = commitFile(work, 'plans.txt', 'the secret itself\n');
  git(work, 'tag', '-a', '-m', 'private release', 'work-secret');
  git(a, 'remote', 'add', 'work', work);
  git(a, 'config', 'remote.work.remotedaemon', 'false');
  git(a, 'fetch', '-q', 'work'); // auto-follows work-secret into refs/tags/
  assert.equal(git(a, 'rev-parse', 'refs/tags/work-secret^{}'), secret, 'the private tag was followed');
  git(a, 'config', '--add', 'remotedaemon.p2p.allow', p.address('b')); // B may fetch from A, nothing more
  p.link('b', 'a');
  const da = startDaemon(a, ['--foreground', '--verbose'], p.env);
  t.after(() => da.stop());
  await logged(da, /peer node up/);
  return {
    p,
    a,
    b,
    secret,
    secretParent,
    secretBlob: git(a, 'rev-parse', `${secret}:plans.txt`),
    secretParentBlob: git(a, 'rev-parse', `${secretParent}:plans.txt`),
    secretTag: git(a, 'rev-parse', 'refs/tags/work-secret'),
    main: git(a, 'rev-parse', 'refs/heads/main'),
    mainBlob: git(a, 'rev-parse', 'main:readme.txt'),
  };
}

function commitFile(repo: string, file: string, text: string): string {
  execFileSync('sh', ['-c', `printf '%s' "$1" > "$2"`, 'sh', text, join(repo, file)]);
  git(repo, 'add', file);
  git(repo, '-c', 'user.name=W', '-c', 'user.email=w@example.invalid', 'commit', '-q', '-m', `${file}: ${text.trim()}`);
  return git(repo, 'rev-parse', 'HEAD');
}

test('by hand: ls-remote shows A\'s own branches and tags only, not a tag followed from a private remote; a fetch by id of a hidden commit fails', async (t) => {
  const s = await scene(t);
  const listed = await gitRun(s.b, s.p.env, 'ls-remote', 'a');
  assert.equal(listed.code, 0, listed.stderr);
  const names = listed.stdout.trim().split('\n').map((l) => l.split('\t')[1]).sort();
  assert.deepEqual(names, ['HEAD', 'refs/heads/main', 'refs/tags/v1']);

  for (const id of [s.secret, s.secretTag]) {
    const stolen = await gitRun(s.b, s.p.env, 'fetch', 'a', `${id}:refs/stolen`);
    assert.notEqual(stolen.code, 0, `fetching ${id} by id succeeded: ${stolen.stderr}`);
  }
  for (const id of [s.secret, s.secretBlob, s.secretParentBlob, s.secretTag]) {
    assert.equal((await gitRun(s.b, s.p.env, 'cat-file', '-e', id)).code, 1, `B holds ${id}`);
  }
  // What is shown still comes over, whole.
  const fetched = await gitRun(s.b, s.p.env, 'fetch', 'a', '--tags');
  assert.equal(fetched.code, 0, fetched.stderr);
  assert.equal(git(s.b, 'rev-parse', 'refs/remotes/a/main'), s.main);
  assert.equal(git(s.b, 'tag', '--list'), 'v1');
});

test('a hand-made peer gets no hidden commit or hidden tag by asking for its id, and is not shown them', async (t) => {
  const s = await scene(t);
  const peer = await handMadePeer(t, s.p, s.b, s.p.address('a'));

  const control = await peer.fetch({ wants: [s.main] });
  assert.equal(control.error, undefined);
  assert.ok(control.objects.has(s.mainBlob), 'a want of a shown tip is served (the check below can see objects)');
  assert.ok(!control.advertised.includes('refs/tags/work-secret'), `advertised ${control.advertised.join(' ')}`);
  assert.ok(!control.advertised.some((r) => r.startsWith('refs/remotes/')), `advertised ${control.advertised.join(' ')}`);

  for (const id of [s.secret, s.secretTag]) {
    const stolen = await peer.fetch({ wants: [id] });
    assert.equal(stolen.objects.size, 0, `wanting ${id} got ${stolen.objects.size} objects`);
    assert.match(stolen.error ?? '', /not our ref/);
  }
});

test('a hand-made peer that calls a hidden commit shallow and deepens gets none of its history', async (t) => {
  const s = await scene(t);
  const peer = await handMadePeer(t, s.p, s.b, s.p.address('a'));
  // upload-pack (v0, --strict, too) sends the parents of a commit the client calls shallow when it
  // deepens without limit: the hidden commit's parent is hidden history, and must not come.
  const deepened = await peer.fetch({ wants: [s.main], shallow: [s.secret], deepen: 2147483647 });
  for (const id of [s.secretParent, s.secretParentBlob, s.secretBlob]) assert.ok(!deepened.objects.has(id), `the pack holds ${id}`);
  assert.ok(deepened.objects.has(s.mainBlob));
});

test('a tag on a shown branch is shown; `remotedaemon.p2p.show` narrows branches and tags; a detached HEAD is not shown', async (t) => {
  const p = await makePeers(t);
  const a = p.make('a', { seed: true });
  const b = p.make('b');
  git(a, 'branch', 'wip/x');
  git(a, 'branch', 'release');
  git(a, 'tag', '-a', '-m', 'one', 'v1');
  git(a, 'tag', 'draft-1');
  git(a, 'config', '--add', 'remotedaemon.p2p.allow', p.address('b'));
  git(a, 'config', '--add', 'remotedaemon.p2p.show', 'refs/heads/*');
  git(a, 'config', '--add', 'remotedaemon.p2p.show', 'refs/tags/v*');
  git(a, 'config', '--add', 'remotedaemon.p2p.show', '!refs/heads/wip/*');
  git(a, 'checkout', '-q', '--detach');
  commit(a, 'detached and private');
  p.link('b', 'a');
  const da = startDaemon(a, ['--foreground', '--verbose'], p.env);
  t.after(() => da.stop());
  await logged(da, /peer node up/);
  const listed = await gitRun(b, p.env, 'ls-remote', 'a');
  assert.equal(listed.code, 0, listed.stderr);
  const names = listed.stdout.trim().split('\n').map((l) => l.split('\t')[1]).sort();
  assert.deepEqual(names, ['refs/heads/main', 'refs/heads/release', 'refs/tags/v1', 'refs/tags/v1^{}']);
});

interface Fetched {
  advertised: string[];
  error?: string;
  objects: Set<string>;
}

/** B's key on a DHT node of its own, a git session to `address`, and upload-pack's protocol spoken by hand. */
async function handMadePeer(t: { after(fn: () => unknown): void }, p: Peers, bRepo: string, address: string) {
  const identity = await loadIdentity(join(bRepo, '.git'), { create: true });
  const keyPair = DHT.keyPair(identity.seed);
  const dht = new DHT({ bootstrap: p.testnet.bootstrap, host: '127.0.0.1', ephemeral: false, firewalled: false, keyPair });
  t.after(() => dht.destroy({ force: true }));
  const stream = dht.connect(Buffer.from(keyOf(address)!, 'hex'), { keyPair });
  stream.on('error', () => {});
  const conn = new PeerConnection(stream, {});
  t.after(() => conn.close());
  const scratch = join(p.root, 'scratch');
  git(p.root, 'init', '-q', '--bare', scratch);
  return {
    async fetch(request: { wants: string[]; shallow?: string[]; deepen?: number }): Promise<Fetched> {
      const pipe = await conn.openSession({ service: 'git-upload-pack', v2: true });
      const reader = pktReader(pipe);
      const first = await reader.next();
      const advertised: string[] = [];
      const out: Buffer[] = [];
      if (first === 'version 2\n') {
        // Protocol v2: "wants can be anything". Wait out its capabilities, then ask.
        while ((await reader.next()) !== null);
        out.push(pkt('command=fetch\n'), Buffer.from('0001'));
        for (const id of request.wants) out.push(pkt(`want ${id}\n`));
        for (const id of request.shallow ?? []) out.push(pkt(`shallow ${id}\n`));
        if (request.deepen) out.push(pkt(`deepen ${request.deepen}\n`));
        out.push(pkt('done\n'), Buffer.from('0000'));
      } else {
        for (let line = first; line !== null; line = await reader.next()) advertised.push(line.split('\0')[0].trim().split(' ')[1]);
        request.wants.forEach((id, i) => out.push(pkt(`want ${id}${i === 0 ? ' side-band-64k ofs-delta shallow' : ''}\n`)));
        for (const id of request.shallow ?? []) out.push(pkt(`shallow ${id}\n`));
        if (request.deepen) out.push(pkt(`deepen ${request.deepen}\n`));
        out.push(Buffer.from('0000'), pkt('done\n'));
      }
      pipe.end(Buffer.concat(out));
      let error: string | undefined;
      const pack: Buffer[] = [];
      for (;;) {
        const line = await reader.nextRaw().catch(() => undefined);
        if (line === undefined) break;
        if (line === null) continue;
        if (line[0] === 1) pack.push(line.subarray(1));
        else if (line.subarray(0, 4).toString() === 'ERR ') error = line.toString();
        else if (line[0] === 3) error = line.subarray(1).toString();
      }
      const objects = new Set<string>();
      const data = Buffer.concat(pack);
      if (data.subarray(0, 4).toString() === 'PACK') {
        execFileSync('git', ['index-pack', '--stdin', '--fix-thin'], { cwd: scratch, input: data, stdio: ['pipe', 'ignore', 'ignore'] });
        const listing = execFileSync('git', ['cat-file', '--batch-all-objects', '--batch-check=%(objectname)'], { cwd: scratch, encoding: 'utf8' });
        for (const id of listing.split('\n')) if (id) objects.add(id);
        execFileSync('sh', ['-c', 'rm -rf objects/pack/* objects/??'], { cwd: scratch });
      }
      return { advertised, error, objects };
    },
  };
}

function pkt(text: string): Buffer {
  return Buffer.concat([Buffer.from((Buffer.byteLength(text) + 4).toString(16).padStart(4, '0')), Buffer.from(text)]);
}

/** Reads pkt-lines off a session: null for a flush (or delim), undefined-rejecting at the end. */
function pktReader(stream: NodeJS.ReadableStream) {
  let buffer = Buffer.alloc(0);
  let ended = false;
  let wake: (() => void) | undefined;
  stream.on('data', (d: Buffer) => {
    buffer = Buffer.concat([buffer, d]);
    wake?.();
  });
  const done = () => {
    ended = true;
    wake?.();
  };
  stream.on('end', done);
  stream.on('close', done);
  stream.on('error', done);
  const nextRaw = async (): Promise<Buffer | null> => {
    for (;;) {
      if (buffer.length >= 4) {
        const length = parseInt(buffer.subarray(0, 4).toString(), 16);
        if (length <= 2) {
          buffer = buffer.subarray(4);
          return null;
        }
        if (buffer.length >= length) {
          const body = buffer.subarray(4, length);
          buffer = buffer.subarray(length);
          return body;
        }
      }
      if (ended) throw new Error('the session ended');
      await new Promise<void>((resolve) => (wake = resolve));
    }
  };
  return {
    nextRaw,
    next: async () => {
      const raw = await nextRaw();
      return raw === null ? null : raw.toString('utf8');
    },
  };
}
