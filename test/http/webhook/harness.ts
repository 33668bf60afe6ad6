// The webhook endpoint task as the daemon runs it, over MessagePorts, for the tests that drive it
// in this process (test/http/webhook.test.ts, test/http/webhook/endpoint.test.ts): started with
// settings, stopped after the test, each remote attached with a channel of its own.

import type { TestContext } from 'node:test';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import webhookEndpoint from '../../../workers/http/webhook/endpoint.js';
import type { EndpointTask, FromEndpoint, ToEndpoint } from '../../../shared/plugin.js';
import type { FromWebhook } from '../../../workers/http/messages.js';

/** Messages arriving on a port, awaitable. */
export class Inbox<M> {
  readonly items: M[] = [];
  private waiters: (() => void)[] = [];

  constructor(port: MessagePort) {
    port.on('message', (m: M) => {
      this.items.push(m);
      for (const w of this.waiters.splice(0)) w();
    });
  }

  /** Resolves once `condition` holds of every message so far; `what` names it in the timeout's error. */
  async until(what: string, condition: (items: M[]) => boolean, timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition(this.items)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(this.items)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The first message that matches, come already or yet to come. */
  async first(match: (m: M) => boolean, timeoutMs = 10_000): Promise<M> {
    await this.until('a matching message', (items) => items.some(match), timeoutMs);
    return this.items.find(match)!;
  }
}

export interface WebhookEndpoint {
  control: MessagePort;
  daemon: Inbox<FromEndpoint>;
  stopped: Promise<void>;
  /** Attaches a remote as a coordinator does, with its repository's own settings if given. */
  attach(remote: string, url: string, own?: Record<string, unknown>): { inbox: Inbox<FromWebhook>; port: MessagePort };
}

export function startWebhookEndpoint(t: Pick<TestContext, 'after'>, settings: Record<string, unknown>): WebhookEndpoint {
  const channel = new MessageChannel();
  const daemon = new Inbox<FromEndpoint>(channel.port2);
  const task: EndpointTask = { kind: 'endpoint', plugin: 'http', settings, repo: { cwd: '/', gitDir: '/' }, port: channel.port1 };
  const stopped = webhookEndpoint(task);
  const control = channel.port2;
  t.after(async () => {
    control.postMessage({ type: 'stop' } satisfies ToEndpoint);
    await stopped;
    control.close();
  });
  return {
    control,
    daemon,
    stopped,
    attach(remote, url, own) {
      const link = new MessageChannel();
      control.postMessage({ type: 'attach', remote, url, port: link.port1, ...(own && { own }) } satisfies ToEndpoint, [link.port1]);
      t.after(() => link.port2.close());
      return { inbox: new Inbox<FromWebhook>(link.port2), port: link.port2 };
    },
  };
}

/** The port the receiver listens on, once it says so; 0 when it says why it does not (a condition). */
export async function listeningPort(daemon: Inbox<FromEndpoint>): Promise<number> {
  const listening = (m: FromEndpoint) => m.type === 'log' && /listening on/.test(m.text);
  await daemon.until('listening', (items) => items.some(listening) || items.some((m) => m.type === 'condition'));
  const line = daemon.items.find(listening);
  return line && line.type === 'log' ? Number(/:(\d+)$/.exec(line.text)![1]) : 0;
}
