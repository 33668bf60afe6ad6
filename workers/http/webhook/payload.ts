// Which repository an event is about: every URL the forge gives for it, normalised. Only URLs are
// read from a payload; refs and shas are not (the remote's transport asks the server itself, so a
// payload can make us look, never make us believe).

import { normaliseRepoUrl } from '../urls.js';

const FIELDS: Record<string, string[]> = {
  // GitHub, Gitea, Forgejo
  repository: ['clone_url', 'ssh_url', 'git_url', 'html_url', 'git_http_url', 'git_ssh_url', 'url', 'homepage'],
  // GitLab
  project: ['git_http_url', 'git_ssh_url', 'http_url', 'ssh_url', 'web_url'],
};

/** The body as JSON, also from GitHub's and Gitea's form encoding (`payload=<json>`). */
export function parsePayload(body: Buffer, contentType: string | undefined): unknown {
  const text = body.toString('utf8');
  if ((contentType ?? '').split(';')[0].trim() === 'application/x-www-form-urlencoded') {
    return JSON.parse(new URLSearchParams(text).get('payload') ?? '');
  }
  return JSON.parse(text);
}

export function repositoryUrls(payload: unknown): Set<string> {
  const urls = new Set<string>();
  if (typeof payload !== 'object' || payload === null) return urls;
  for (const [section, keys] of Object.entries(FIELDS)) {
    const object = (payload as Record<string, unknown>)[section];
    if (typeof object !== 'object' || object === null) continue;
    for (const key of keys) {
      const value = (object as Record<string, unknown>)[key];
      if (typeof value !== 'string' || value.length > 2048) continue;
      const normal = normaliseRepoUrl(value);
      if (normal !== undefined) urls.add(normal);
    }
  }
  return urls;
}
