// A remote's worker loads only its own transport: every module a worker imports costs that thread
// memory for its life, once per remote (the p2p plugin's settings pulled protomux into every local
// remote's thread: ~1.8 MB each, `node dist/bench/proof.js memory`). Checked by loading a worker's
// task module in a fresh process with a hook that records every module it loads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TRANSPORTS } from '../../workers/registry.js';
import { loadTransport, TRANSPORT_LIST } from '../../workers/transports.js';

const SESSION = new URL('../../workers/session.js', import.meta.url).href;
const TRANSPORTS_MODULE = new URL('../../workers/transports.js', import.meta.url).href;

/** The file URLs a fresh Node process loads for `body` (an ES module's text), in load order. */
function modulesLoadedBy(body: string): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'grd-modules-'));
  try {
    const log = join(dir, 'loaded');
    writeFileSync(log, '');
    writeFileSync(
      join(dir, 'hooks.mjs'),
      `import { appendFileSync } from 'node:fs';\nexport async function load(url, context, next) { appendFileSync(${JSON.stringify(log)}, url + '\\n'); return next(url, context); }\n`,
    );
    writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(new URL(`file://${join(dir, 'hooks.mjs')}`).href)});\n`);
    // CommonJS packages required by ES modules do not pass the hook: list them from require's cache.
    const script = `${body}\nimport { createRequire } from 'node:module';\nimport { appendFileSync } from 'node:fs';\nappendFileSync(${JSON.stringify(log)}, Object.keys(createRequire(import.meta.url).cache).map((f) => 'file://' + f + '\\n').join(''));\n`;
    const run = spawnSync(process.execPath, ['--import', join(dir, 'register.mjs'), '--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    return readFileSync(log, 'utf8').split('\n').filter((u) => u.startsWith('file:'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const OTHER_TRANSPORTS = /\/workers\/(ssh|http|p2p|xmpp)\/|\/node_modules\/(ssh2|protomux|compact-encoding|hypercore-id-encoding|hyperdht|@xmpp)\//;

test("a local remote's worker loads no other transport's modules nor their packages", () => {
  const loaded = modulesLoadedBy(
    `await import(${JSON.stringify(SESSION)});\nconst { loadTransport } = await import(${JSON.stringify(TRANSPORTS_MODULE)});\nawait (await loadTransport('local')).load();`,
  );
  assert.ok(loaded.some((u) => u.endsWith('/workers/local/transport.js')), loaded.join('\n'));
  assert.deepEqual(loaded.filter((u) => OTHER_TRANSPORTS.test(u) || u.endsWith('/workers/registry.js')), []);
});

test('the transport list names each plugin as the plugin names itself; the registry holds them all, in order', async () => {
  assert.deepEqual(
    TRANSPORTS.map((t) => t.name),
    TRANSPORT_LIST.map((t) => t.name),
  );
  for (const listed of TRANSPORT_LIST) assert.equal((await loadTransport(listed.name))?.name, listed.name);
  assert.equal(await loadTransport('no-such-transport'), undefined);
});
