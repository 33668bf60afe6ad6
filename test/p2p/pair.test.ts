// Pairing through magic-wormhole against a mailbox server on loopback (Debian:
// python3-magic-wormhole-mailbox-server, run with twist3): both sides end up with the other as a
// remote and see both fingerprints. Without wormhole, the manual way is shown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fingerprint, keyOf } from '../../workers/p2p/address.js';
import { git, tempDir } from '../support/git.js';
import { DAEMON } from './support.js';
import { freePort } from '../support/ports.js';

async function mailbox(t: { after(fn: () => unknown): void }, dir: string): Promise<string> {
  const port = await freePort();
  const server = spawn('twist3', ['wormhole-mailbox', `--port=tcp:${port}:interface=127.0.0.1`, `--channel-db=${join(dir, 'channel.sqlite')}`, `--usage-db=${join(dir, 'usage.sqlite')}`], { stdio: 'ignore' });
  t.after(() => server.kill());
  const failed = new Promise<never>((_, reject) => server.on('error', (err) => reject(new Error(`cannot run the mailbox server (apt install python3-magic-wormhole-mailbox-server): ${err.message}`))));
  // Ready when it accepts connections: try until it does, or give up.
  const deadline = Date.now() + 20_000;
  for (;;) {
    const up = await Promise.race([failed, new Promise<boolean>((resolve) => connect(port, '127.0.0.1').on('connect', function (this: import('node:net').Socket) { this.destroy(); resolve(true); }).on('error', () => resolve(false)))]);
    if (up) return `ws://127.0.0.1:${port}/v1`;
    if (Date.now() > deadline) throw new Error('the mailbox server did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
}

function run(cwd: string, args: string[], env: NodeJS.ProcessEnv = process.env, onStderr?: (text: string) => void) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(process.execPath, [DAEMON, ...args], { cwd, env }, (_err, stdout, stderr) => resolve({ code: child.exitCode, stdout, stderr }));
    child.stderr!.on('data', (d: Buffer) => onStderr?.(d.toString()));
  });
}

test('p2p pair exchanges addresses with a code phrase and adds each side as the other\'s remote', async (t) => {
  const dir = tempDir('grd-pair-');
  t.after(dir.cleanup);
  const relay = await mailbox(t, dir.path);
  const a = join(dir.path, 'a');
  const b = join(dir.path, 'b');
  git(dir.path, 'init', '-q', a);
  git(dir.path, 'init', '-q', b);
  const addrA = (await run(a, ['p2p', 'address'])).stdout.trim();
  const addrB = (await run(b, ['p2p', 'address'])).stdout.trim();

  // The other side runs what the first one tells it to, which must name the same mailbox server.
  let hint!: (c: string) => void;
  const hintSeen = new Promise<string>((resolve) => (hint = resolve));
  let said = '';
  const first = run(a, ['p2p', 'pair', '--name', 'desk', '--relay-url', relay], process.env, (text) => {
    said += text;
    const m = /^on the other repository run: +git remote-daemon (.+)$/m.exec(said);
    if (m) hint(m[1]);
  });
  const told = (await hintSeen).split(' ');
  assert.deepEqual(told.slice(0, 4), ['p2p', 'pair', '--relay-url', relay]);
  const second = run(b, [...told, '--name', 'lap']);
  const [ra, rb] = await Promise.all([first, second]);
  assert.equal(ra.code, 0, ra.stderr);
  assert.equal(rb.code, 0, rb.stderr);
  assert.equal(git(a, 'config', 'remote.desk.url'), addrB);
  assert.equal(git(b, 'config', 'remote.lap.url'), addrA);
  for (const out of [ra.stderr, rb.stderr]) {
    assert.ok(out.includes(fingerprint(keyOf(addrA)!)) && out.includes(fingerprint(keyOf(addrB)!)), out);
  }
});

test('without magic-wormhole, p2p pair says so and shows the manual way with this fingerprint', async (t) => {
  const dir = tempDir('grd-pair-');
  t.after(dir.cleanup);
  git(dir.path, 'init', '-q', 'a');
  const a = join(dir.path, 'a');
  const addr = (await run(a, ['p2p', 'address'])).stdout.trim();
  // A PATH with git on it and nothing else.
  const bin = join(dir.path, 'bin');
  mkdirSync(bin);
  symlinkSync(execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim(), join(bin, 'git'));
  const r = await run(a, ['p2p', 'pair'], { ...process.env, PATH: bin });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /magic-wormhole is not installed/);
  assert.ok(r.stderr.includes(addr) && r.stderr.includes(fingerprint(keyOf(addr)!)), r.stderr);
});
