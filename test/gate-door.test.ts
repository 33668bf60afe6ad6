// The gate is the only door for protocol lines (docs/architecture.md): checked at run time (the
// control output has exactly one writer, claimed once) and over the sources (nothing else claims
// it, formats emitted messages, or makes a protocol line by hand).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ControlOutput } from '../src/control.js';
import type { Emitted } from '../src/protocol.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Every TypeScript source of the daemon (shared/, src/ and workers/), as [path from the root, text]. */
function sources(): [string, string][] {
  const found: [string, string][] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) found.push([relative(ROOT, path), readFileSync(path, 'utf8')]);
    }
  };
  walk(join(ROOT, 'shared'));
  walk(join(ROOT, 'src'));
  walk(join(ROOT, 'workers'));
  return found;
}

/** Where `pattern` occurs outside comments, as "file:line: text" for a readable failure. */
function occurrences(pattern: RegExp): string[] {
  const hits: string[] = [];
  for (const [file, text] of sources()) {
    text.split('\n').forEach((line, i) => {
      if (!/^\s*(\/\/|\*|\/\*)/.test(line) && pattern.test(line)) hits.push(`${file}:${i + 1}: ${line.trim()}`);
    });
  }
  return hits;
}

test('the control output has one writer: a second claim throws', () => {
  const lines: string[] = [];
  const output = new ControlOutput((_message: Emitted, line) => lines.push(line));
  const write = output.claim();
  assert.throws(() => output.claim(), /only the protocol gate writes/);
  write({ type: 'WARNING', remote: '*', text: 'said' });
  assert.deepEqual(lines, ['WARNING * said'], 'the claimed writer writes whole lines');
});

test('only the daemon claims the control output, and hands it to the coordinator, whose gate alone uses it', () => {
  assert.deepEqual(
    occurrences(/\.claim\(\)/).map((hit) => hit.split(':')[0]),
    ['src/daemon.ts'],
    'one claim, in startDaemon (passed on as the coordinator\'s emit)',
  );
  const emits = occurrences(/options\.emit\b/);
  assert.equal(emits.length, 1, emits.join('\n'));
  assert.match(emits[0]!, /^src\/coordinator\.ts:.*new ProtocolGate\(/, 'the coordinator gives emit to its gate and uses it nowhere else');
  const gateEmits = occurrences(/\.out\.emit\(/);
  assert.ok(gateEmits.length > 0 && gateEmits.every((hit) => hit.startsWith('src/gate.ts:')), gateEmits.join('\n'));
});

test('no source formats an emitted message or makes a protocol line by hand, except the protocol and the control output', () => {
  const formats = occurrences(/\bformatEmitted\(/).filter((hit) => !/^src\/(protocol|control)\.ts:/.test(hit));
  assert.deepEqual(formats, []);
  // A string that starts with an emitted verb and goes on: a line made by hand, past the gate.
  const handMade = occurrences(/[`'"](CONNECTED|DISCONNECTED|SYNCING|DONESYNCING|WARNING) (\$\{|[^'"`\s])/)
    .filter((hit) => !hit.startsWith('src/protocol.ts:'));
  assert.deepEqual(handMade, []);
});
