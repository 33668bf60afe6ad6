// `remote.<name>.remotedaemon-pull = ff-only`: after a fetch from <name>, move the checked-out
// branch forward to its upstream, but only when that is exactly what `git merge --ff-only` would do
// on a tree nobody is working in. Anything else (local changes, a merge or rebase under way,
// diverged history) leaves the repository alone and returns the reason.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { RepoInfo } from '../workerapi.js';

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

/** After SIGTERM (on which git removes its lock files), what is left of the group gets SIGKILL. */
const KILL_GRACE_MS = 500;

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
 * timeout or a stop ends all of them: SIGTERM first, then SIGKILL once git is gone or the grace
 * is over. Rejects with GitInterrupted when it had to do that.
 */
function gitIn(repo: RepoInfo, args: string[], run: Run): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { cwd: repo.cwd, env: { ...process.env, ...GIT_ENV }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const signalGroup = (signal: NodeJS.Signals) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, signal);
      } catch {
        // the whole group is gone already
      }
    };
    let killedFor: string | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    const kill = (why: string) => {
      if (killedFor) return;
      killedFor = why;
      signalGroup('SIGTERM');
      killTimer = setTimeout(() => signalGroup('SIGKILL'), KILL_GRACE_MS);
    };
    const command = args.find((a) => !a.startsWith('-')) ?? args[0];
    const timer = setTimeout(() => kill(`git ${command} did not finish within ${run.timeoutMs / 1000} s (a hook that hangs?); killed it`), Math.max(0, run.deadline - Date.now()));
    const onAbort = () => kill(`git ${command} stopped with the daemon`);
    if (run.signal?.aborted) onAbort();
    else run.signal?.addEventListener('abort', onAbort, { once: true });

    let settled = false;
    const settle = (code: number | null, error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      run.signal?.removeEventListener('abort', onAbort);
      child.stdout.destroy();
      child.stderr.destroy();
      if (killedFor) {
        clearTimeout(killTimer);
        signalGroup('SIGKILL'); // a hook that outlived git (or ignored SIGTERM)
        reject(new GitInterrupted(killedFor));
      } else if (error) resolve({ ok: false, stdout, stderr: error.message });
      else resolve({ ok: code === 0, stdout, stderr });
    };
    child.once('error', (err) => settle(null, err));
    child.once('exit', (code) => {
      // Let the pipes deliver what git wrote just before exiting, but a process its hook left in
      // the background holding them open must not keep us waiting.
      const grace = setTimeout(() => settle(code), 200);
      child.once('close', () => {
        clearTimeout(grace);
        settle(code);
      });
    });
  });
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
