import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { findRepo, loadConfig, parseConfigList, rewriteUrl } from '../src/config.js';
import { transportFor } from '../workers/registry.js';
import { git, tempDir } from './support/git.js';

function repoWithConfig(t: { after(fn: () => void): void }, config: string) {
  const dir = tempDir();
  t.after(dir.cleanup);
  git(dir.path, 'init', '-q', 'repo');
  const repo = join(dir.path, 'repo');
  appendFileSync(join(repo, '.git', 'config'), config);
  return { dir: dir.path, repo };
}

test('remotes come out as git sees them: includes, repeated keys, case, quoting, insteadOf', async (t) => {
  const { dir, repo } = repoWithConfig(
    t,
    `
[include]
  path = ../../extra.config
[Remote "Origin"]
  URL = "/srv/with space/repo.git"
  fetch = +refs/heads/*:refs/remotes/Origin/*
  fetch = +refs/tags/*:refs/tags/*
[remote "gh"]
  url = work:team/repo.git
  tagOpt = --no-tags
  prune = yes
  fetch = +refs/heads/*:refs/remotes/gh/*
  remotedaemon-notifier = git-annex-shell notifychanges
[url "ssh://git@example.org/"]
  insteadOf = work:
[url "ssh://git@example.org/team-mirror/"]
  insteadOf = work:team/
[remote "off"]
  url = /tmp/x
  fetch = +refs/heads/*:refs/remotes/off/*
  remotedaemon = false
[remote "web"]
  url = https://example.org/r.git
  fetch = +refs/heads/*:refs/remotes/web/*
[remote "hg"]
  url = hg::https://example.org/r
  fetch = +refs/heads/*:refs/remotes/hg/*
[remote "pushonly"]
  url = /tmp/y
[remotedaemon]
  pollInterval = 5
`,
  );
  writeFileSync(join(dir, 'extra.config'), '[remote "included"]\n\turl = file:///srv/inc.git\n\tfetch = +refs/heads/*:refs/remotes/included/*\n');
  const info = await findRepo(repo);
  assert.equal(info.cwd, repo);
  const config = await loadConfig(info, {});
  const byName = new Map(config.remotes.map((r) => [r.name, r]));
  assert.deepEqual([...byName.keys()], ['included', 'Origin', 'gh', 'web']);
  assert.deepEqual(byName.get('Origin'), {
    name: 'Origin',
    url: '/srv/with space/repo.git',
    transport: 'local',
    fetchRefspecs: ['+refs/heads/*:refs/remotes/Origin/*', '+refs/tags/*:refs/tags/*'],
    options: {},
    followTags: true,
  });
  assert.equal(config.pollIntervalSeconds('Origin'), 5);
  assert.equal(byName.get('gh')?.url, 'ssh://git@example.org/team-mirror/repo.git', 'the longest insteadOf wins');
  assert.equal(byName.get('gh')?.transport, 'ssh');
  assert.equal(byName.get('gh')?.options.notifier, 'git-annex-shell notifychanges');
  assert.equal(byName.get('gh')?.followTags, undefined, 'tagOpt = --no-tags');
  assert.equal(byName.get('gh')?.prune, true, 'remote.gh.prune');
  assert.equal(byName.get('Origin')?.prune, undefined);
  assert.equal(byName.get('included')?.transport, 'local');
  const ignored = new Map(config.ignored.map((i) => [i.name, i]));
  assert.equal(ignored.get('off')?.quiet, true);
  assert.match(ignored.get('hg')?.reason ?? '', /hg::https:\/\/example.org\/r: git runs git-remote-hg for it/);
  assert.equal(byName.get('web')?.transport, 'http');
  assert.match(ignored.get('pushonly')?.reason ?? '', /no remote.<name>.fetch/);
});

test('GIT_SSH_COMMAND wins over core.sshCommand, as in git', async (t) => {
  const { repo } = repoWithConfig(t, '[core]\n\tsshCommand = ssh -i /k1\n[remote "s"]\n\turl = host:r.git\n\tfetch = +refs/heads/*:refs/remotes/s/*\n');
  const info = await findRepo(repo);
  assert.equal((await loadConfig(info, {})).remotes[0].options.sshCommand, 'ssh -i /k1');
  assert.equal((await loadConfig(info, { GIT_SSH_COMMAND: 'ssh -i /k2' })).remotes[0].options.sshCommand, 'ssh -i /k2');
});

test('a bad poll interval is reported and the default kept', async (t) => {
  const { repo } = repoWithConfig(t, '[remotedaemon]\n\tpollInterval = soon\n');
  const config = await loadConfig(await findRepo(repo), {});
  assert.match(config.problems[0], /pollInterval must be a number/);
});

test('remotedaemon.fetchStallTimeout: seconds, 180 when unset, a bad value reported and the default kept', async (t) => {
  assert.equal((await loadConfig(await findRepo(repoWithConfig(t, '').repo), {})).fetchStallSeconds, 180);
  assert.equal((await loadConfig(await findRepo(repoWithConfig(t, '[remotedaemon]\n\tfetchStallTimeout = 30\n').repo), {})).fetchStallSeconds, 30);
  const bad = await loadConfig(await findRepo(repoWithConfig(t, '[remotedaemon]\n\tfetchStallTimeout = 0\n').repo), {});
  assert.equal(bad.fetchStallSeconds, 180);
  assert.match(bad.problems[0]!, /remotedaemon.fetchStallTimeout must be a number of seconds from 1/);
});

test('a broken config is a clear error', async (t) => {
  const { repo } = repoWithConfig(t, '');
  const info = await findRepo(repo);
  appendFileSync(join(repo, '.git', 'config'), '[remote "x"\n');
  await assert.rejects(loadConfig(info, {}), /git could not read the config: fatal: bad config line \d+ in file .git\/config/);
  await assert.rejects(findRepo(repo), /^Error: bad config line/);
});

test('outside a repository: a clear error', async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  await assert.rejects(findRepo(dir.path), /not a git repository/);
});

test('a bare repository runs git in its git dir', async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  git(dir.path, 'init', '-q', '--bare', 'b.git');
  const info = await findRepo(join(dir.path, 'b.git'));
  assert.equal(info.cwd, join(dir.path, 'b.git'));
  assert.equal(info.gitDir, join(dir.path, 'b.git'));
});

test('transports follow git URL rules', () => {
  const table: [string, string | undefined][] = [
    ['/srv/repo.git', 'local'],
    ['../sibling', 'local'],
    ['./a:b', 'local'],
    ['file:///srv/repo.git', 'local'],
    ['ssh://u@h:2222/p', 'ssh'],
    ['git+ssh://h/p', 'ssh'],
    ['ssh+git://h/p', 'ssh'],
    ['u@host:path/repo', 'ssh'],
    ['host:~/repo', 'ssh'],
    ['https://h/p', 'http'],
    ['http://h/p', 'http'],
    ['git://h/p', 'http'],
    ['hg::https://h/p', undefined],
    ['gcrypt::rsync://h/p', undefined],
    ['ftp://h/p', undefined],
  ];
  for (const [url, kind] of table) assert.equal(transportFor(url)?.name, kind, url);
});

test('parseConfigList keeps every value, and valueless keys mean true', () => {
  const c = parseConfigList('remote.o.fetch\na\0remote.o.fetch\nb\0core.bare\0x.y\nline1\nline2\0');
  assert.deepEqual(c.get('remote.o.fetch'), ['a', 'b']);
  assert.deepEqual(c.get('core.bare'), ['true']);
  assert.deepEqual(c.get('x.y'), ['line1\nline2']);
  assert.equal(rewriteUrl(c, 'nothing:to/do'), 'nothing:to/do');
});
