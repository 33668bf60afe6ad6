// A forge's Retry-After in status, with a real background daemon and a real HTTP server answering
// 429 and 503 with Retry-After: status, status --json and status --check show "server asked to
// wait N s (until HH:MM:SS UTC)" while it is in force.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { makeRepos } from './fixture.js';
import { startGitHttp } from '../support/githttp.js';
import { eventually } from '../support/daemon.js';
import { git } from '../support/git.js';
import { cli, pathsOf, waitForLog } from '../background/support.js';

for (const status of [429, 503] as const) {
  test(`http: a server answering ${status} with Retry-After: 120 shows in status, --json and --check`, async (t) => {
    const repos = makeRepos(t);
    const server = await startGitHttp({ root: repos.served });
    t.after(() => server.stop());
    git(repos.local, 'remote', 'set-url', 'origin', `${server.base}/repo.git`);
    git(repos.local, 'config', 'remote.origin.remotedaemon-pollInterval', '1');
    const paths = pathsOf(repos.local);
    assert.equal((await cli(repos.local, [])).code, 0);
    try {
      await waitForLog(paths, 'CONNECTED origin', 1, 20_000);
      assert.doesNotMatch((await cli(repos.local, ['status'])).stdout, /server asked to wait/);
      server.mode = { kind: 'throttle', status, retryAfter: '120' };
      await eventually(() => readFileSync(paths.state, 'utf8').includes('serverWait'), 'the state file has the wait', 20_000);
      const shown = (await cli(repos.local, ['status'])).stdout;
      assert.match(shown, /^ +server asked to wait 120 s \(until \d\d:\d\d:\d\d UTC\)$/m, shown);
      const until = /until (\d\d:\d\d:\d\d) UTC/.exec(shown)![1]!;
      const check = await cli(repos.local, ['status', '--check']);
      assert.equal(check.code, 2, check.stdout);
      assert.equal(check.stdout.trim(), `origin: server asked to wait 120 s (until ${until} UTC)`);
      const json = JSON.parse((await cli(repos.local, ['status', '--json'])).stdout) as { remotes: { serverWait?: { until: number; seconds: number } }[] };
      assert.equal(json.remotes[0]!.serverWait!.seconds, 120);
      assert.equal(new Date(json.remotes[0]!.serverWait!.until).toISOString().slice(11, 19), until);
    } finally {
      await cli(repos.local, ['stop']);
    }
  });
}
