// workers/http/noprompt.ts: the environment and arguments that keep every git the http transport
// starts from asking a person. Checked on `git credential fill` with no helper (what git does
// when a server wants credentials): an askpass program that records being run is offered every
// way git looks for one (GIT_ASKPASS, SSH_ASKPASS, core.askPass) and is never run; git fails at
// once instead. Without the setting, the same git does run it: the check can see a prompt. (The
// terminal prompt needs a terminal, which a test has none of: GIT_TERMINAL_PROMPT is not checked.)

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NO_PROMPT_ARGS, NO_PROMPT_ENV } from '../../workers/http/noprompt.js';
import { tempDir } from '../support/git.js';

/** An askpass program that records each run and answers as a person would. */
function recorder(t: TestContext): { program: string; runs: () => string[] } {
  const d = tempDir('grd-noprompt-');
  t.after(d.cleanup);
  const log = join(d.path, 'asked');
  const program = join(d.path, 'askpass');
  writeFileSync(program, `#!/bin/sh\necho "$1" >> ${JSON.stringify(log)}\necho someone\n`);
  chmodSync(program, 0o755);
  return { program, runs: () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []) };
}

function credentialFill(args: string[], env: NodeJS.ProcessEnv) {
  // No terminal: stdin is the credential request, as when the daemon runs git.
  return spawnSync('git', [...args, 'credential', 'fill'], { input: 'protocol=https\nhost=git.example.org\n\n', encoding: 'utf8', env, timeout: 10_000 });
}

/** The daemon's environment without any askpass or prompt setting of the user's. */
function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, GIT_CONFIG_NOSYSTEM: '1' };
  for (const name of ['GIT_ASKPASS', 'SSH_ASKPASS', 'GIT_TERMINAL_PROMPT', 'GCM_INTERACTIVE']) delete env[name];
  return env;
}

test('without the settings, git asks the askpass program: a prompt would be seen', (t) => {
  const askpass = recorder(t);
  const r = credentialFill([], { ...baseEnv(), GIT_ASKPASS: askpass.program });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^username=someone$/m);
  assert.ok(askpass.runs().length > 0);
});

test('with them, no askpass is run, however it is offered, and git fails at once instead of waiting for a person', (t) => {
  const askpass = recorder(t);
  const env = { ...baseEnv(), SSH_ASKPASS: askpass.program, GIT_ASKPASS: askpass.program, ...NO_PROMPT_ENV };
  const r = credentialFill([...NO_PROMPT_ARGS, '-c', `core.askPass=${askpass.program}`], env);
  assert.notEqual(r.status, 0);
  assert.equal(r.error, undefined, 'it ended on its own, not at the timeout');
  assert.match(r.stderr, /terminal prompts disabled|credential.interactive|could not read Username/i);
  assert.deepEqual(askpass.runs(), []);
});
