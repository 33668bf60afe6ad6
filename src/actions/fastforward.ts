// `remote.<name>.remotedaemon-pull = ff-only`: after a fetch from <name>, move the checked-out
// branch forward to its upstream, but only when that is exactly what `git merge --ff-only` would do
// on a tree nobody is working in. Anything else (local changes, a merge or rebase under way,
// diverged history) leaves the repository alone and returns the reason.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runInGroup } from '../../shared/kit/group.js';
import type { RepoInfo } from '../../shared/workerapi.js';

export type FastForwardResult =
  /** The branch moved. */
  | { kind: 'moved'; branch: string; from: string; to: string }
  /** Nothing to do: already contains the upstream, or the branch follows another remote. */
  | { kind: 'nothing' }
  /** Left alone; `reason` says why, for a WARNING. */
  | { kind: 'refused'; reason: string };

/** Files in the worktree's git dir that mean a git operation is under way and owns the tree. */
const IN_PROGRESS: [string, string][] = [
  ['MERGE_HEAD', 'a merge'],
  ['rebase-merge', 'a rebase'],
  ['rebase-apply', 'a rebase or git am'],
  ['CHERRY_PICK_HEAD', 'a cherry-pick'],
  ['REVERT_HEAD', 'a revert'],
  ['BISECT_LOG', 'a bisect'],
  ['sequencer', 'a cherry-pick or revert sequence'],
  ['index.lock', 'another git command (index.lock exists)'],
];

/** Environment for our own git commands: never prompt, never open an editor. */
const GIT_ENV = { GIT_TERMINAL_PROMPT: '0', GIT_MERGE_AUTOEDIT: 'no', GIT_EDITOR: 'true' };

export interface FastForwardLimits {
  /**
   * All its git commands together get this long. `git merge` runs the user's post-merge hook, and
   * the actions run one at a time: a hook that hangs must not hold up every later action.
   */
  timeoutMs: number;
  /** Aborted when the daemon stops: the running git command (and its hook) is killed. */
  signal?: AbortSignal;
}

/** Thrown when a git command was killed (timeout or stop); the fast-forward ends there. */
export class GitInterrupted extends Error {}

interface Run {
  deadline: number;
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * Runs git in its own process group (a hook it runs, and whatever that starts, is in it too), so a
 * timeout or a stop ends all of them. Rejects with GitInterrupted when it had to do that.
 */
async function gitIn(repo: RepoInfo, args: string[], run: Run): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  const command = args.find((a) => !a.startsWith('-')) ?? args[0];
  const result = await runInGroup('git', args, {
    cwd: repo.cwd,
    env: { ...process.env, ...GIT_ENV },
    timeoutMs: run.deadline - Date.now(),
    signal: run.signal,
    describeTimeout: `git ${command} did not finish within ${run.timeoutMs / 1000} s (a hook that hangs?); killed it`,
    describeAbort: `git ${command} stopped with the daemon`,
  });
  if (result.killedFor !== undefined) throw new GitInterrupted(result.killedFor);
  if (result.error) return { ok: false, stdout: result.stdout, stderr: result.error.message };
  return { ok: result.code === 0, stdout: result.stdout, stderr: result.stderr };
}

/**
 * Fast-forwards the checked-out branch if that is safe. Rejects with GitInterrupted when a git
 * command ran out of time or the daemon stopped.
 */
export async function fastForward(repo: RepoInfo, remote: string, limits: FastForwardLimits): Promise<FastForwardResult> {
  const run: Run = { deadline: Date.now() + limits.timeoutMs, timeoutMs: limits.timeoutMs, signal: limits.signal };
  const git = (args: string[]) => gitIn(repo, args, run);
  if (repo.cwd === repo.gitDir) return { kind: 'refused', reason: 'the repository has no work tree' };
  const head = await git(['symbolic-ref', '-q', 'HEAD']);
  if (!head.ok) return { kind: 'refused', reason: 'HEAD is detached' };
  const branchRef = head.stdout.trim();
  const branch = branchRef.replace(/^refs\/heads\//, '');

  const info = await git(['for-each-ref', '--format=%(upstream)%00%(upstream:remotename)', branchRef]);
  const [upstream = '', upstreamRemote = ''] = info.stdout.trim().split('\0');
  if (upstream === '') return { kind: 'refused', reason: `branch ${branch} has no upstream` };
  if (upstreamRemote !== remote) return { kind: 'nothing' }; // another remote's business

  const tip = await git(['rev-parse', '-q', '--verify', `${upstream}^{commit}`]);
  if (!tip.ok) return { kind: 'refused', reason: `upstream ${upstream} does not exist` };
  const to = tip.stdout.trim();
  const current = await git(['rev-parse', '-q', '--verify', 'HEAD^{commit}']);
  if (!current.ok) return { kind: 'refused', reason: `branch ${branch} has no commits yet` };
  const from = current.stdout.trim();
  if (from === to) return { kind: 'nothing' };
  // Already contains the upstream (local commits not pushed yet): nothing to fast-forward.
  if ((await git(['merge-base', '--is-ancestor', to, from])).ok) return { kind: 'nothing' };
  if (!(await git(['merge-base', '--is-ancestor', from, to])).ok) {
    return { kind: 'refused', reason: `branch ${branch} has diverged from ${upstream.replace(/^refs\/remotes\//, '')}` };
  }

  for (const [file, what] of IN_PROGRESS) {
    if (existsSync(join(repo.gitDir, file))) return { kind: 'refused', reason: `${what} is in progress` };
  }
  // Untracked files are not "changes" here: if the fast-forward would overwrite one, git merge
  // itself refuses and leaves everything as it was (that refusal is reported below).
  const status = await git(['--no-optional-locks', 'status', '--porcelain', '--untracked-files=no']);
  if (!status.ok) return { kind: 'refused', reason: `git status failed: ${firstLine(status.stderr)}` };
  if (status.stdout.trim() !== '') return { kind: 'refused', reason: 'the working tree or index has local changes' };

  const merge = await git(['merge', '--ff-only', '--quiet', to]);
  if (!merge.ok) return { kind: 'refused', reason: `git merge --ff-only refused: ${firstLine(merge.stderr)}` };
  return { kind: 'moved', branch, from, to };
}

function firstLine(text: string): string {
  const lines = text.split('\n').map((l) => l.replace(/^(error|fatal): /, '').trim()).filter(Boolean);
  return lines.slice(0, 2).join(' ') || 'no reason given';
}
