// The command line's definition (src/program.ts) in this process, none of its actions run: how
// usage errors are said (one line, where to read, exit 2), fail() and oneLine(), the duration and
// count arguments, -C before anything else, and that defining the program changes nothing.
// test/cli.test.ts runs the real command for the same words end to end.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError, type Command } from 'commander';
import { buildProgram, fail, FAILED, oneLine, USAGE } from '../src/program.js';
import { caught } from './support/exitcapture.js';

/** Parses `args` as the user's words; every case here ends in an error before an action runs. */
const parse = (t: TestContext, ...args: string[]) => caught(t, () => buildProgram().parseAsync(args, { from: 'user' }));

test('oneLine: every line trimmed and joined, blank lines and stack frames dropped', () => {
  assert.equal(oneLine('first\n  second  \n\nthird'), 'first second third');
  assert.equal(oneLine('Error: boom\n    at f (x.js:1:1)\n    at g (y.js:2:2)'), 'Error: boom');
  assert.equal(oneLine('one line'), 'one line');
  assert.equal(oneLine(''), '');
});

test('fail: one line on stderr, exit 1 unless told; "not a git repository" gets what to do', async (t) => {
  assert.deepEqual(await caught(t, () => fail('the daemon\ncould not start')), { stderr: 'git-remote-daemon: the daemon could not start\n', exit: FAILED });
  assert.deepEqual(await caught(t, () => fail('bad', USAGE)), { stderr: 'git-remote-daemon: bad\n', exit: 2 });
  assert.deepEqual(await caught(t, () => fail('fatal: not a git repository (or any of the parent directories): .git')), {
    stderr: 'git-remote-daemon: fatal: not a git repository (or any of the parent directories): .git; run it inside a repository, or name one with -C <dir>\n',
    exit: 1,
  });
});

test('usage errors: one line, exit 2, and where to read unless a suggestion says it', async (t) => {
  const cases: [string[], string][] = [
    [['stauts'], "unknown command 'stauts' (did you mean status?)"],
    [['help', 'stauts'], "unknown command 'stauts' (did you mean status?)"],
    [['xyzzy'], "unknown command 'xyzzy'; see `git remote-daemon help`"],
    [['status', '--jsn'], "unknown option '--jsn' (did you mean --json?); see `git remote-daemon help status`"],
    [['status', 'extra'], "too many arguments for 'status'. Expected 0 arguments but got 1; see `git remote-daemon help status`"],
    [['p2p', 'pare'], "unknown command 'pare' (did you mean pair?)"],
    [['log', '-n', '-1'], "option '-n, --lines <count>' argument '-1' is invalid. not a number of lines; see `git remote-daemon help log`"],
    [['--foreground', '--service'], "option '--foreground' cannot be used with option '--service'; see `git remote-daemon help`"],
    [['--all', '--foreground'], '--all runs with --service (or start --all), not --foreground'],
  ];
  for (const [args, line] of cases) {
    assert.deepEqual(await parse(t, ...args), { stderr: `git-remote-daemon: ${line}\n`, exit: USAGE }, args.join(' '));
  }
});

test('an error raised with an exit code of its own keeps it; commander\'s own are usage errors', async (t) => {
  assert.deepEqual(await caught(t, () => buildProgram().error('no shared daemon', { exitCode: 3, code: 'commander.error' })), {
    stderr: 'git-remote-daemon: no shared daemon; see `git remote-daemon help`\n',
    exit: 3,
  });
  assert.equal((await caught(t, () => buildProgram().error('x', { exitCode: 3, code: 'commander.unknownOption' }))).exit, USAGE);
});

test('-C: a missing directory is a usage error before the command runs; each -C is relative to the one before', async (t) => {
  const cwd = process.cwd();
  t.after(() => process.chdir(cwd)); // the first -C, to /, does happen
  assert.deepEqual(await parse(t, '-C', '/nonexistent/grd', 'status'), { stderr: "git-remote-daemon: cannot change to '/nonexistent/grd': no such directory\n", exit: USAGE });
  assert.deepEqual(await parse(t, '-C', '/', '-C', 'nonexistent-grd', 'status'), { stderr: "git-remote-daemon: cannot change to 'nonexistent-grd': no such directory\n", exit: USAGE });
  assert.equal(process.cwd(), '/');
});

function parserOf(command: Command, long: string): (value: string) => unknown {
  const option = command.options.find((o) => o.long === long);
  assert.ok(option?.parseArg, long);
  return (value) => option.parseArg!(value, undefined);
}

test('durations: a number with ms, s (the default), m, h or d; anything else is refused', () => {
  const program = buildProgram();
  const status = program.commands.find((c) => c.name() === 'status')!;
  const fetch = program.commands.find((c) => c.name() === 'fetch')!;
  for (const duration of [parserOf(status, '--max-stale'), parserOf(fetch, '--timeout')]) {
    const cases: [string, number][] = [['90', 90_000], ['90s', 90_000], ['250ms', 250], ['10m', 600_000], ['1.5h', 5_400_000], ['2d', 172_800_000], [' 5m ', 300_000], ['0', 0]];
    for (const [value, ms] of cases) assert.equal(duration(value), ms, value);
    for (const bad of ['', 'm', '5 m', '-1s', '1w', '1.s', '.5s', '10M']) assert.throws(() => duration(bad), InvalidArgumentError, bad);
  }
  const lines = parserOf(program.commands.find((c) => c.name() === 'log')!, '--lines');
  assert.equal(lines('0'), 0);
  assert.equal(lines('25'), 25);
  for (const bad of ['-1', '1.5', 'x', 'Infinity']) assert.throws(() => lines(bad), InvalidArgumentError, bad);
});

test('defining the program changes nothing in the process: no handlers, no directory change', () => {
  const events = ['uncaughtException', 'unhandledRejection', 'SIGTERM', 'SIGUSR2'] as const;
  const before = events.map((e) => process.listenerCount(e));
  const cwd = process.cwd();
  const program = buildProgram();
  buildProgram();
  assert.deepEqual(events.map((e) => process.listenerCount(e)), before);
  assert.equal(process.cwd(), cwd);
  assert.ok(program.commands.length > 10);
});
