// git's config as git reads it (shared/gitconfig.ts), each rule checked against git itself: what
// `git config -z --list` prints, which spellings `git config --type=bool` takes, and where
// `git ls-remote --get-url` says an `insteadOf` leads.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { last, localPath, parseBool, parseConfigList, rewriteUrl } from '../shared/gitconfig.js';
import { git, tempDir } from './support/git.js';

const dir = tempDir('grd-gitconfig-');
after(dir.cleanup);
const repo = join(dir.path, 'repo');
git(dir.path, 'init', '-q', repo);

/** `git config -z --list` of a config file with this text, raw (git() would trim it). */
function listed(text: string): string {
  const file = join(dir.path, 'list.config');
  writeFileSync(file, text);
  return execFileSync('git', ['config', '-z', '--list', '-f', file], { encoding: 'utf8' });
}

test('what git lists is parsed whole: repeated keys in order, multi-line values, a key with no value is true', () => {
  const config = parseConfigList(
    listed('[remote "o"]\n\tfetch = a\n\tfetch = b\n[core]\n\tflag\n[x]\n\ty = "line1\\nline2"\n\tempty =\n[Section "Sub.Case"]\n\tKey = v\n'),
  );
  assert.deepEqual([...config], [
    ['remote.o.fetch', ['a', 'b']],
    ['core.flag', ['true']],
    ['x.y', ['line1\nline2']],
    ['x.empty', ['']],
    // git lowercases the section and the key, never the subsection
    ['section.Sub.Case.key', ['v']],
  ]);
  assert.equal(last(config, 'remote.o.fetch'), 'b', 'a single-valued key: the last value wins');
  assert.equal(last(config, 'x.empty'), '', 'an empty value is a value, not an absent one');
  assert.equal(last(config, 'no.such'), undefined);
  assert.deepEqual([...parseConfigList('')], [], 'an empty config');
});

test('parseBool takes exactly the spellings git takes, in any case, integers too, and refuses the rest', () => {
  const spellings = ['true', 'TRUE', 'Yes', 'on', '1', 'false', 'No', 'OFF', '0', '', 'maybe', 'yess', 'tru e'];
  // Any integer is one too (non-zero is true), as C writes them, with a unit, within int's range.
  spellings.push('2', '-1', '+3', ' 5', '5 ', '10k', '1G', '0x10', '0X0', '017', '00', '-0', '08', '0x', '1.0', '1e3', '0b1');
  spellings.push('2147483647', '2147483648', '-2147483647', '-2147483648', '2097151k', '2097152k', '99999999999999999999999');
  for (const value of spellings) {
    let gits: boolean | undefined;
    try {
      gits = git(repo, '-c', `x.y=${value}`, 'config', '--type=bool', 'x.y') === 'true';
    } catch {
      gits = undefined; // git: bad boolean config value
    }
    assert.equal(parseBool(value), gits, `${JSON.stringify(value)}: git says ${gits}`);
  }
});

test('insteadOf rewrites as git does: the longest prefix wins, whatever the order; no match leaves the URL alone', () => {
  const rules = [
    ['ssh://git@example.org/', 'work:'],
    ['ssh://git@example.org/team-mirror/', 'work:team/'],
    ['https://mirror.example/', 'https://example.com/'],
    ['file:///srv/', 'local:'],
  ];
  const args = rules.flatMap(([base, prefix]) => ['-c', `url.${base}.insteadOf=${prefix}`]);
  const config = parseConfigList(git(repo, ...args, 'config', '-z', '--list'));
  for (const url of ['work:repo.git', 'work:team/repo.git', 'https://example.com/a.git', 'local:x', 'https://other.example/a.git', 'wor:k']) {
    const gits = git(repo, ...args, 'ls-remote', '--get-url', url);
    assert.equal(rewriteUrl(config, url), gits, url);
  }
  assert.equal(rewriteUrl(new Map(), 'work:repo.git'), 'work:repo.git', 'no config, no rewriting');
});

test('two bases claiming the same prefix: the first one, as git', () => {
  const args = ['-c', 'url.https://first.example/.insteadOf=x:', '-c', 'url.https://second.example/.insteadOf=x:'];
  const config = parseConfigList(git(repo, ...args, 'config', '-z', '--list'));
  assert.equal(rewriteUrl(config, 'x:repo'), git(repo, ...args, 'ls-remote', '--get-url', 'x:repo'));
});

test('localPath: a file:// URL or a path, made absolute against the repository', () => {
  const info = { cwd: '/home/u/repo', gitDir: '/home/u/repo/.git' };
  assert.equal(localPath('file:///srv/git/a.git', info), '/srv/git/a.git');
  assert.equal(localPath('/srv/git/a.git', info), '/srv/git/a.git');
  assert.equal(localPath('../other.git', info), '/home/u/other.git');
  assert.equal(localPath('file://../other.git', info), '/home/u/other.git', 'what follows file:// is read as a path, relative too');
  assert.equal(localPath('sub/./x', info), '/home/u/repo/sub/x');
});
