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
