// The kit's shell quoting and word splitting: git's single-quote style for command lines sent over
// ssh, and POSIX words for the user's own command lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { shellQuote, ShellSyntaxError, splitShellWords, sqQuote } from '../../shared/kit/shell.js';

const awkward = ['plain', "it's", 'bang!', "'!'!''", 'sp ace', '$(x);`y`', '', 'tab\there', '~/home', 'a\\b', '"dq"', '*?[x]'];

test('sqQuote quotes every word as git does, a bang included', () => {
  assert.equal(sqQuote('plain'), "'plain'");
  assert.equal(sqQuote("a'b!c"), "'a'\\''b'\\!'c'");
});

test('shellQuote leaves safe words bare and round-trips the rest through splitShellWords', () => {
  assert.equal(shellQuote('/usr/bin/ssh'), '/usr/bin/ssh');
  assert.equal(shellQuote('-oUser=a@b,c:d%e+f'), '-oUser=a@b,c:d%e+f');
  for (const word of awkward) {
    assert.deepEqual(splitShellWords(`cmd ${shellQuote(word)}`, {}), ['cmd', word], word);
  }
  // What /bin/sh makes of the quoted words is the same.
  const words = awkward.filter((w) => w !== '');
  const printed = execFileSync('/bin/sh', ['-c', `printf '%s\\0' ${words.map(shellQuote).join(' ')}`], { encoding: 'utf8' });
  assert.deepEqual(printed.split('\0').slice(0, -1), words);
});

test('splitShellWords: quoting as a POSIX shell does, never running anything', () => {
  const env = { HOME: '/home/me', KEY: '/k/id', EMPTY: '' };
  const cases: [string, string[]][] = [
    ['ssh', ['ssh']],
    ['  ssh   -p  22 ', ['ssh', '-p', '22']],
    [`ssh -i '/a b/key' -o "User=x y"`, ['ssh', '-i', '/a b/key', '-o', 'User=x y']],
    ['ssh -i /a\\ b', ['ssh', '-i', '/a b']],
    [`ssh -o 'a'"b"c`, ['ssh', '-o', 'abc']],
    ['ssh -i ~/.ssh/k', ['ssh', '-i', '/home/me/.ssh/k']],
    ['ssh -i a~/k', ['ssh', '-i', 'a~/k']],
    [`ssh -i '~/k'`, ['ssh', '-i', '~/k']],
    ['ssh -i $KEY -i "${KEY}2" -i \'$KEY\'', ['ssh', '-i', '/k/id', '-i', '/k/id2', '-i', '$KEY']],
    ['ssh "a\\"b\\\\c"', ['ssh', 'a"b\\c']],
    ['ssh "" x', ['ssh', '', 'x']],
    ['ssh $EMPTY x "$EMPTY"', ['ssh', 'x', '']], // an unquoted empty expansion is no word at all
  ];
  for (const [text, expected] of cases) {
    assert.deepEqual(splitShellWords(text, env), expected, text);
  }
  for (const bad of ['ssh; rm -rf /', 'ssh | x', 'ssh `id`', 'ssh $(id)', 'ssh "unterminated', "ssh 'x", 'ssh > f', 'ssh & x']) {
    assert.throws(() => splitShellWords(bad, env), ShellSyntaxError, bad);
  }
});

