// status as a person reads it, from state files of the coming RemoteState shape (phase, watching,
// warnings still true) and of today's (nextRetry, lastWarning), and from ones missing fields; where a
// condition shows, also that `status --check` counts it (health's own tests: test/commands/health.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatStatus, span, type StateView } from '../../src/commands/statusview.js';
import { healthProblems } from '../../src/commands/health.js';

const now = Date.UTC(2026, 11, 2, 11, 20, 21);
const min = 60_000;

const state: StateView = {
  pid: 4242,
  startedAt: now - 125 * min,
  cwd: '/home/me/src/project',
  mode: 'running',
  remotes: [
    {
      name: 'origin',
      transport: 'ssh',
      phase: { kind: 'connected', since: now - 125 * min },
      connected: true,
      since: now - 125 * min,
      watching: 'notifier',
      lastFetch: { at: now - 3 * min, ok: true },
      warnings: [],
    },
    {
      name: 'usb-backup',
      transport: 'local',
      phase: { kind: 'backoff', until: now + 40_000, reason: 'gone' },
      connected: false,
      since: now - 19 * min,
      lastFetch: { at: now - 22 * min, ok: true },
      warnings: [{ at: now - 19 * min, kind: 'connect', text: 'cannot connect: /mnt/usb/project.git is not a git repository, and a long tail to wrap' }],
    },
  ],
  ignored: [{ name: 'web', reason: 'no transport serves https://example.com/p.git yet' }],
};

test('aligned, within 80 columns, UTC times with their age, only warnings still true', () => {
  const text = formatStatus(state, now, { branch: 'main', upstream: 'origin/main', ahead: 1, behind: 2 });
  assert.equal(
    text,
    [
      'running (pid 4242) since 2026-12-02T09:15:21Z (2h 05m ago)',
      'in /home/me/src/project',
      'branch main, 1 ahead and 2 behind origin/main',
      '',
      'origin      ssh    connected since 2026-12-02T09:15:21Z (2h 05m ago)',
      '                   watching: notifier',
      '                   last fetch: 2026-12-02T11:17:21Z (3m 00s ago), ok',
      'usb-backup  local  disconnected since 2026-12-02T11:01:21Z (19m 00s ago);',
      '                     retrying in 40 s',
      '                   last fetch: 2026-12-02T10:58:21Z (22m 00s ago), ok',
      '                   warning (19m 00s ago): cannot connect: /mnt/usb/project.git',
      '                     is not a git repository, and a long tail to wrap',
      '',
      'ignored:',
      '  web  no transport serves https://example.com/p.git yet',
    ].join('\n'),
  );
  for (const line of text.split('\n')) assert.ok(line.length <= 80, line);
});

test('missing fields are left out, never an error; paused says how to resume', () => {
  const text = formatStatus({ pid: 1, mode: 'paused', remotes: [{ name: 'x' }] }, now);
  assert.equal(text, ['running (pid 1)', 'PAUSED: nothing is watched or fetched until `git remote-daemon resume`', '', 'x  disconnected', '   last fetch: none yet'].join('\n'));
  assert.equal(formatStatus({ pid: 2 }, now), 'running (pid 2)\n\nno remotes to act on');
  assert.equal(formatStatus({ pid: 3, shared: true }, now), 'running (pid 3, the shared daemon)\n\nno remotes to act on');
});

test('an old-style last warning shows only while nothing good came after it', () => {
  const old = (lastFetch?: { at: number; ok: boolean }) =>
    formatStatus({ pid: 3, remotes: [{ name: 'o', connected: true, since: now - 10 * min, lastWarning: { at: now - 5 * min, text: 'oops' }, lastFetch }] }, now);
  assert.match(old(), /warning \(5m 00s ago\): oops/);
  assert.match(old({ at: now - 6 * min, ok: true }), /oops/);
  assert.doesNotMatch(old({ at: now - 1 * min, ok: true }), /oops/);
});

test('span: a duration in its two largest units', () => {
  assert.equal(span(3 * 86_400_000 + 4 * 3_600_000), '3d 4h');
});

test('a polled remote says when it is next looked at; a fetch under way and the last change are shown', () => {
  const polled: StateView = {
    pid: 1,
    remotes: [
      {
        name: 'gh',
        transport: 'http',
        phase: { kind: 'connected' },
        connected: true,
        since: now - 5 * min,
        watching: 'polling every 60 s',
        nextLookAt: now + 42_000,
        fetching: { since: now - 28_000, stage: 'Receiving objects', percent: 45, bytes: 12 * 1024 * 1024 },
        lastFetch: { at: now - 2 * min, ok: true },
        lastChange: { at: now - 2 * min, summary: 'main: 3 new commits' },
        warnings: [],
      },
    ],
  };
  const text = formatStatus(polled, now);
  assert.match(text, /^ +watching: polling every 60 s, next look in 42s$/m);
  assert.match(text, /^ +fetching for 28s: Receiving objects 45%, 12\.0 MiB received$/m);
  assert.match(text, /^ +last change: 2m 00s ago, main: 3 new commits$/m);
});

test('a number and its unit stay on one line wherever the 80 columns end', () => {
  // A name of every length moves the 80th column across "retrying in 20 s" and "(5m 03s ago)".
  for (let length = 1; length <= 20; length++) {
    const text = formatStatus(
      { pid: 1, remotes: [{ name: 'r'.repeat(length), transport: 'local', phase: { kind: 'backoff', until: now + 20_000 }, since: now - 5 * min - 3000 }] },
      now,
    );
    for (const line of text.split('\n')) assert.ok(line.length <= 80, line);
    assert.match(text.replace(/\n +/g, ' '), /retrying in 20 s/);
    assert.doesNotMatch(text, /\d\n|\n +s\b|\d[a-z]+\n +\d/, text);
  }
});

test('a git:// remote is shown as transport git (the http transport serves it)', () => {
  const text = formatStatus({ pid: 1, remotes: [{ name: 'mirror', transport: 'http', url: 'git://example.com/p.git', connected: true }] }, now);
  assert.match(text, /^mirror {2}git {2}/m);
  assert.match(formatStatus({ pid: 1, remotes: [{ name: 'gh', transport: 'http', url: 'https://example.com/p.git', connected: true }] }, now), /^gh {2}http {2}/m);
});

test('daemon-wide conditions show under the header and make --check unhealthy; paused, only the endpoints\' are set aside', () => {
  const warned: StateView = {
    pid: 7,
    mode: 'running',
    remotes: [],
    warnings: [
      { at: now - 5000, kind: 'reload', text: 'RELOAD failed, keeping the current remotes: fatal: bad config line 9 in file .git/config' },
      { at: now - 65_000, kind: 'endpoint:xmpp:connect', text: 'xmpp endpoint: cannot reach the XMPP server: connection refused (127.0.0.1:1); retrying with backoff' },
    ],
  };
  const text = formatStatus(warned, now);
  assert.equal(
    text.split('\n').slice(0, 5).join('\n'),
    [
      'running (pid 7)',
      'warning (5s ago): RELOAD failed, keeping the current remotes: fatal: bad config',
      '  line 9 in file .git/config',
      'warning (1m 05s ago): xmpp endpoint: cannot reach the XMPP server: connection',
      '  refused (127.0.0.1:1); retrying with backoff',
    ].join('\n'),
  );
  assert.deepEqual(healthProblems(warned, now, 10 * min), [
    'daemon: RELOAD failed, keeping the current remotes: fatal: bad config line 9 in file .git/config',
    'daemon: xmpp endpoint: cannot reach the XMPP server: connection refused (127.0.0.1:1); retrying with backoff',
  ]);
  assert.deepEqual(healthProblems({ ...warned, mode: 'paused' }, now, 10 * min), ['daemon: RELOAD failed, keeping the current remotes: fatal: bad config line 9 in file .git/config']);
  assert.deepEqual(healthProblems({ ...warned, warnings: [] }, now, 10 * min), []);
});

test('a server\'s Retry-After shows, and is a problem, only while it is in force', () => {
  const waiting = (until: number): StateView => ({ pid: 1, remotes: [{ name: 'forge', connected: true, since: now - min, serverWait: { until, seconds: 120 } }] });
  assert.match(formatStatus(waiting(now + 90_000), now), /^ {3,}server asked to wait 120 s \(until 11:21:51 UTC\)$/m);
  assert.deepEqual(healthProblems(waiting(now + 90_000), now, 10 * min), ['forge: server asked to wait 120 s (until 11:21:51 UTC)']);
  assert.doesNotMatch(formatStatus(waiting(now - 1000), now), /asked to wait/);
  assert.deepEqual(healthProblems(waiting(now - 1000), now, 10 * min), []);
});
