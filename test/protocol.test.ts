import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatConsumed, formatEmitted, parseConsumed, parseEmitted, type Consumed, type Emitted } from '../src/protocol.js';

test('every consumed message parses', () => {
  const table: [string, Consumed][] = [
    ['PAUSE', { type: 'PAUSE' }],
    ['LOSTNET', { type: 'LOSTNET' }],
    ['RESUME', { type: 'RESUME' }],
    ['RELOAD', { type: 'RELOAD' }],
    ['STOP', { type: 'STOP' }],
    ['STOP\r', { type: 'STOP' }],
    ['CHANGED refs/heads/main', { type: 'CHANGED', refs: ['refs/heads/main'] }],
    ['CHANGED refs/heads/a refs/tags/v1', { type: 'CHANGED', refs: ['refs/heads/a', 'refs/tags/v1'] }],
    ['FETCH', { type: 'FETCH', remotes: [] }],
    ['FETCH origin', { type: 'FETCH', remotes: ['origin'] }],
    ['FETCH origin backup', { type: 'FETCH', remotes: ['origin', 'backup'] }],
  ];
  for (const [line, message] of table) {
    assert.deepEqual(parseConsumed(line), { ok: true, message }, line);
    if (!line.endsWith('\r')) assert.equal(formatConsumed(message), line);
  }
});

test('hostile and malformed lines are refused with a reason, never thrown', () => {
  const table: [string, RegExp][] = [
    ['', /empty/],
    ['\r', /empty/],
    ['pause', /unknown message "pause"; did you mean PAUSE\?/],
    ['Reload', /did you mean RELOAD\?/],
    ['RELAOD', /did you mean RELOAD\?/],
    ['fecth', /did you mean FETCH\?/],
    ['HELLO', /^unknown message "HELLO"$/],
    ['FETCH *', /cannot be a remote's name/],
    ['FETCH  origin', /stray space/],
    ['PAUSE now', /takes no arguments/],
    ['PAUSE ', /stray space/],
    [' PAUSE', /stray space|unknown/],
    ['CHANGED', /at least one ref/],
    ['CHANGED  refs/heads/x', /stray space/],
    ['STOP\0', /control character/],
    ['RESUME\x1b[31m', /control character/],
    ['\x00\x01\x02\xff', /control character/],
    ['RELOAD\tnow', /control character/],
    ['CHANGED \uFFFD', /UTF-8/],
    ['X'.repeat(1 << 20), /unknown message "X{40}\.\.\."/],
    ['DONESYNCING origin 1', /unknown message/],
  ];
  for (const [line, error] of table) {
    const result = parseConsumed(line);
    assert.equal(result.ok, false, JSON.stringify(line.slice(0, 50)));
    assert.match((result as { error: string }).error, error);
    assert.ok((result as { error: string }).error.length < 200, 'the error echoes at most a short excerpt');
  }
});

test('every emitted message prints as one line and parses back', () => {
  const table: [Emitted, string][] = [
    [{ type: 'CONNECTED', remote: 'origin' }, 'CONNECTED origin'],
    [{ type: 'DISCONNECTED', remote: 'origin' }, 'DISCONNECTED origin'],
    [{ type: 'SYNCING', remote: 'usb' }, 'SYNCING usb'],
    [{ type: 'DONESYNCING', remote: 'usb', ok: true }, 'DONESYNCING usb 1'],
    [{ type: 'DONESYNCING', remote: 'usb', ok: false }, 'DONESYNCING usb 0'],
    [{ type: 'WARNING', remote: 'origin', text: 'host key changed' }, 'WARNING origin host key changed'],
  ];
  for (const [message, line] of table) {
    assert.equal(formatEmitted(message), line);
    assert.deepEqual(parseEmitted(line), message);
  }
});

test('warning text from anywhere stays on one line', () => {
  const line = formatEmitted({ type: 'WARNING', remote: 'o', text: 'fatal: a\nb\r\nc\x00d' + 'x'.repeat(5000) });
  assert.ok(!/[\n\r\0]/.test(line));
  assert.ok(line.startsWith('WARNING o fatal: a b c d'));
  assert.ok(line.length < 2100);
});
