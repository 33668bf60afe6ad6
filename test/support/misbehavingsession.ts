// A remote's worker that misbehaves on purpose, for tests of what the coordinator survives: the
// real session (workers/session.ts) with a misbehaviour beside it. The coordinator runs it through
// its `sessionFile` option, so the product's session carries no test hook. Which remote misbehaves,
// and how, is a file in the repository's git dir that the first worker of that remote consumes:
// a restarted worker finds none and behaves.

import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import session from '../../workers/session.js';
import type { SessionTask } from '../../shared/workerapi.js';

export interface Misbehaviour {
  /** After the worker's first message to the coordinator (its stray prints are captured by then). */
  afterMs: number;
  how: 'throw' | 'reject' | 'oom' | 'print' | 'hang';
}

/** The coordinator's `sessionFile` for workers that misbehave as `plans` say, once per remote. */
export function misbehaving(gitDir: string, plans: Record<string, Misbehaviour>): URL {
  for (const [remote, plan] of Object.entries(plans)) writeFileSync(planFile(gitDir, remote), JSON.stringify(plan));
  return new URL('./misbehavingsession.js', import.meta.url);
}

export default async function misbehavingSession(task: SessionTask): Promise<string> {
  const plan = takePlan(task.repo.gitDir, task.spec.name);
  if (plan) {
    const post = task.port.postMessage.bind(task.port);
    let armed = false;
    task.port.postMessage = ((...args: Parameters<typeof post>) => {
      post(...args);
      if (!armed) (armed = true), misbehave(plan);
    }) as typeof task.port.postMessage;
  }
  return session(task);
}

function planFile(gitDir: string, remote: string): string {
  return join(gitDir, `test-misbehave-${remote}.json`);
}

function takePlan(gitDir: string, remote: string): Misbehaviour | undefined {
  const file = planFile(gitDir, remote);
  try {
    const plan = JSON.parse(readFileSync(file, 'utf8')) as Misbehaviour;
    unlinkSync(file);
    return plan;
  } catch {
    return undefined; // none, or another worker of this remote took it
  }
}

function misbehave({ afterMs, how }: Misbehaviour): void {
  setTimeout(() => {
    if (how === 'throw') throw new Error('worker crash requested by test');
    if (how === 'reject') void Promise.reject(new Error('unhandled rejection requested by test'));
    if (how === 'print') {
      process.stdout.write('half a line without newline ');
      console.log('CONNECTED fake');
      console.error('to stderr');
      return;
    }
    if (how === 'hang') for (;;); // a worker that never answers a stop: it must be terminated
    const hoard: number[][] = [];
    for (;;) hoard.push(new Array(1 << 20).fill(hoard.length));
  }, afterMs).unref();
}
