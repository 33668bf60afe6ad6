// systemd-analyze, for the tests that verify our unit files. CI installs it (.ci/run): there a
// missing tool fails the test; elsewhere the test is skipped, saying why.
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';

/** True when systemd-analyze can run; otherwise skips `t` (or fails it under CI) and returns false. */
export function haveSystemdAnalyze(t: { skip(message: string): void }): boolean {
  const probe = spawnSync('systemd-analyze', ['--version'], { stdio: 'ignore' });
  if (!probe.error) return true;
  if (process.env.CI) assert.fail('systemd-analyze is not installed (.ci/run should install systemd)');
  t.skip('systemd-analyze is not installed');
  return false;
}

/**
 * What both our user units must be: not ordered after network-online.target (a user manager has
 * none, so it would only warn), hardened, and clean to `systemd-analyze verify --user` as the user
 * manager would load `path` (the unit or an instance of it), with `runtimeDir` as its own runtime
 * directory. `text` is the unit file's content.
 */
export function assertUserUnit(text: string, path: string, runtimeDir: string): void {
  assert.doesNotMatch(text, /^[^#]*network-online\.target/m);
  for (const hardening of ['NoNewPrivileges=yes', 'RestrictSUIDSGID=yes', 'RestrictNamespaces=yes']) assert.match(text, new RegExp(`^${hardening}$`, 'm'));
  const verify = spawnSync('systemd-analyze', ['verify', '--user', path], { encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: runtimeDir } });
  assert.equal(verify.status, 0, verify.stderr);
  assert.equal(verify.stderr.trim(), '');
}
