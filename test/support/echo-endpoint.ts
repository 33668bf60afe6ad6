// A shared endpoint for tests: echoes what each linked remote sends, tagged with the remote's
// name and this run's settings, and crashes on request (to prove it is restarted and relinked);
// `control?` asks which of the controller's words it heard last, `own?` what the remote's
// repository's own settings (attach) and the thread's settings are.
import type { MessagePort } from 'node:worker_threads';
import type { EndpointTask, FromEndpoint, ToEndpoint } from '../../shared/plugin.js';

export default async function echo(task: EndpointTask): Promise<string> {
  const links = new Map<string, MessagePort>();
  let settings = task.settings;
  // The controller's word it heard last (started during LOSTNET: 'lostnet').
  let control = task.lostnet ? 'lostnet' : 'none';
  const say = (m: FromEndpoint) => task.port.postMessage(m);
  say({ type: 'log', text: `started with ${JSON.stringify(settings)}` });
  await new Promise<void>((resolve) => {
    task.port.on('message', (m: ToEndpoint) => {
      switch (m.type) {
        case 'attach':
          links.set(m.remote, m.port);
          m.port.on('message', (text: string) => {
            if (text === 'crash') setImmediate(() => {
              throw new Error('endpoint crash requested by test');
            });
            else if (text === 'warn') say({ type: 'condition', kind: 'test', text: 'something is off' });
            else if (text === 'warn-retried') say({ type: 'condition', kind: 'login', text: 'login refused', retriedOnResume: true });
            else if (text === 'control?') m.port.postMessage(`${m.remote}:control:${control}`);
            else if (text === 'own?') m.port.postMessage(`${m.remote}:own:${JSON.stringify(m.own ?? null)}:settings:${JSON.stringify(settings)}`);
            else m.port.postMessage(`${m.remote}:${String(settings.tag)}:${text}`);
          });
          return;
        case 'detach':
          links.get(m.remote)?.close();
          links.delete(m.remote);
          return;
        case 'control':
          control = m.what;
          return;
        case 'settings':
          settings = m.settings;
          return;
        case 'stop':
          // Like a carrier that takes a moment to stop (a login ending), saying its last words
          // meanwhile: the daemon ends the channel once the task is over, with what is still in it.
          say({ type: 'log', text: 'stopping' });
          for (const port of links.values()) port.close();
          setTimeout(() => {
            task.port.close();
            resolve();
          }, 50);
      }
    });
  });
  return 'stopped';
}
