// The unit run's rules, checked by the suite itself: test/unit.txt names real test files, and in the
// unit run (test/support/unitguard.ts loaded with --import) starting a real server fails at once.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startGitHttp } from './support/githttp.js';
import { UnitRunError } from './support/unitrun.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const GUARD = fileURLToPath(new URL('./support/unitguard.js', import.meta.url));

function unitFiles(): string[] {
  return readFileSync(`${ROOT}/test/unit.txt`, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}

test('test/unit.txt lists existing test files, each once, this one among them', () => {
  const files = unitFiles();
  assert.ok(files.length > 10, `${files.length} files`);
  for (const f of files) {
    assert.match(f, /^test\/.+\.test\.ts$/, f);
    assert.ok(existsSync(`${ROOT}/${f}`), `${f} is listed in test/unit.txt but does not exist`);
  }
  assert.equal(new Set(files).size, files.length, 'a file listed twice');
  assert.ok(files.includes('test/unitguard.test.ts'), 'the guard checks itself in the unit run');
});

/** Runs `script` (an ES module) in a fresh node with the unit guard loaded; returns what it printed. */
function underGuard(script: string): string {
  return execFileSync(process.execPath, ['--import', GUARD, '--input-type=module', '-e', script], { encoding: 'utf8' }).trim();
}

test('under the guard, sshd, git daemon and Prosody cannot be spawned, nor a UDP socket made; git itself still runs', () => {
  const out = underGuard(`
    import { spawnSync, execFile } from 'node:child_process';
    import { createSocket } from 'node:dgram';
    import { promisify } from 'node:util';
    // Harmless if the guard let them through (so that proving this test can fail starts nothing):
    // programs that do not exist, a git daemon stopped by a bad option, a socket never bound.
    const tries = {
      sshd: () => spawnSync('/nonexistent/sshd', ['-t']),
      gitDaemon: () => spawnSync('git', ['daemon', '--no-such-option']),
      prosody: () => spawnSync('/nonexistent/prosody', ['--version']),
      udp: () => createSocket('udp4').close(),
    };
    const verdicts = {};
    for (const [name, go] of Object.entries(tries)) {
      try { go(); verdicts[name] = 'started'; } catch (e) { verdicts[name] = /a unit test starts no real server/.test(e.message) ? 'refused' : e.message; }
    }
    const { stdout } = await promisify(execFile)('git', ['--version']);
    verdicts.git = stdout.startsWith('git version') ? 'ran' : stdout;
    console.log(JSON.stringify(verdicts));
  `);
  assert.deepEqual(JSON.parse(out), { sshd: 'refused', gitDaemon: 'refused', prosody: 'refused', udp: 'refused', git: 'ran' });
});

test('without the guard the same calls are not refused (the guard is what refuses)', () => {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', "import { createSocket } from 'node:dgram'; createSocket('udp4').close(); console.log('made')"], { encoding: 'utf8' });
  assert.equal(r.stdout.trim(), 'made', r.stderr);
});

test('in the unit run the in-process git http server refuses to start', async () => {
  const before = process.env.GRD_TEST_UNIT;
  process.env.GRD_TEST_UNIT = '1';
  try {
    await assert.rejects(startGitHttp({ root: ROOT }), UnitRunError);
  } finally {
    if (before === undefined) delete process.env.GRD_TEST_UNIT;
    else process.env.GRD_TEST_UNIT = before;
  }
});
