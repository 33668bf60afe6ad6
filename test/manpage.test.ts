// The man page is generated from the command line's definition; the committed one must be what
// `npm run man` makes now, and must render without warnings. Shipped through package.json "man".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { manPage } from '../src/manpage.js';
import type { Command } from 'commander';
import { buildProgram } from '../src/program.js';
import { TRANSPORTS } from '../workers/registry.js';

const PAGE = fileURLToPath(new URL('../../man/git-remote-daemon.1', import.meta.url));
const PACKAGE = fileURLToPath(new URL('../../package.json', import.meta.url));

test('the committed man page is up to date (run `npm run man` after changing the command line)', () => {
  assert.equal(readFileSync(PAGE, 'utf8'), manPage());
});

test('every command and visible option of --help is in the man page', () => {
  const page = readFileSync(PAGE, 'utf8').replace(/\\-/g, '-');
  const program = buildProgram();
  const all = (c: Command): Command[] => c.commands.flatMap((sub) => [sub, ...all(sub)]);
  for (const command of all(program)) {
    const path = [command.parent?.parent ? command.parent.name() : '', command.name()].filter(Boolean).join(' ');
    assert.ok(page.includes(`\\fB${path}`), path);
    for (const option of command.options) assert.ok(page.includes(option.flags), `${command.name()} ${option.flags}`);
  }
  for (const option of program.options.filter((o) => !o.hidden)) assert.ok(page.includes(option.flags), option.flags);
});

test('help and the man page list what each transport of the registry serves', () => {
  let help = '';
  const program = buildProgram().configureOutput({ writeOut: (s) => (help += s) });
  program.outputHelp();
  const page = readFileSync(PAGE, 'utf8').replace(/\\-/g, '-');
  for (const transport of TRANSPORTS) {
    assert.ok(transport.serves, transport.name);
    assert.ok(help.includes(`${transport.serves} (${transport.name})`), `help: ${transport.name}`);
    assert.ok(page.includes(`${transport.serves} (${transport.name})`), `man: ${transport.name}`);
  }
  assert.doesNotMatch(help, /local path, file:\/\/ or ssh URL/);
});

test('package.json ships it as the man page npm install -g links', () => {
  const pkg = JSON.parse(readFileSync(PACKAGE, 'utf8')) as { man: string[]; files: string[] };
  assert.deepEqual(pkg.man, ['./man/git-remote-daemon.1']);
  assert.ok(pkg.files.includes('man/'));
});

test('man renders it without warnings', (t) => {
  const probe = spawnSync('man', ['--version'], { stdio: 'ignore' });
  if (probe.error) {
    if (process.env.CI) assert.fail('man is not installed (.ci/run should install man-db)');
    return t.skip('man is not installed');
  }
  const r = spawnSync('man', ['--warnings', '-l', PAGE], { encoding: 'utf8', env: { ...process.env, MANWIDTH: '80', MANPAGER: 'cat', PAGER: 'cat' } });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.match(r.stdout, /git-remote-daemon - keep this git repository in step with its remotes/);
});
