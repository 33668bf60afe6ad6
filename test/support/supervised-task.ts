// A task for test/supervisor.test.ts, run in a worker thread by Supervised: it says hello on its
// port, then does what it was told: die at once (`crash`), end without an error (`end`), echo
// until asked to stop (`echo`), or echo and ignore the stop message (`stubborn`).
import type { MessagePort } from 'node:worker_threads';

export interface SupervisedTask {
  port: MessagePort;
  behaviour: 'crash' | 'end' | 'echo' | 'stubborn';
}

export default async function task({ port, behaviour }: SupervisedTask): Promise<void> {
  port.postMessage('hello');
  if (behaviour === 'crash') throw new Error('task crash requested by test');
  if (behaviour === 'end') return;
  await new Promise<void>((resolve) => {
    port.on('message', (message: string) => {
      if (message === 'stop' && behaviour === 'echo') {
        port.close();
        resolve();
      } else port.postMessage(`echo ${message}`);
    });
  });
}
