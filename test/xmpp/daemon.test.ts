// Change notices over XMPP, end to end: two devices of one account on a real Prosody, a shared
// forge repository over ssh that nobody notifies about and that is polled every 600 s. Anything a
// device fetches within seconds, it fetched because of a notice or an XMPP catch-up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { eventually } from '../support/daemon.js';
import { refValue, git } from '../support/git.js';
import { loggedInAs, makeDevices, ORIGIN_MAIN, seeEachOther } from './devices.js';
import { cli } from '../background/support.js';
import { normaliseUrl } from '../../workers/notice/format.js';


/** A process's CPU time so far and its resident memory now and at peak (from /proc). */
function usage(pid: number): { cpuMs: number; rss: number; peak: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const mib = (name: string) => Math.round(Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)![1]) / 1024);
  // utime and stime, fields 14 and 15 of stat (11 and 12 after the name), in clock ticks of 10 ms
  return { cpuMs: (Number(fields[11]) + Number(fields[12])) * 10, rss: mib('VmRSS'), peak: mib('VmHWM') };
}

for (const smacks of [true, false]) {
  const server = smacks ? 'with stream management' : 'without stream management';

  test(`xmpp (${server}): a push on device A is fetched on device B at once, not at B's next poll`, async (t) => {
    const dev = await makeDevices(t, { smacks });
    const a = dev.start(dev.a);
    const b = dev.start(dev.b);
    await Promise.all([a.waitFor('CONNECTED origin', { timeoutMs: 20_000 }), b.waitFor('CONNECTED origin', { timeoutMs: 20_000 })]);
    // Each must know the other is listening before a notice can reach it.
    await seeEachOther(a, b);
    for (let round = 0; round < 3; round++) {
      const sha = dev.push(dev.a);
      const pushed = Date.now();
      await eventually(() => refValue(dev.b, ORIGIN_MAIN) === sha, `B fetched push ${round}`, 15_000);
      t.diagnostic(`push on A -> fetched on B: ${Date.now() - pushed} ms`);
      // And the other way round: B's own push reaches A.
      git(dev.b, 'merge', '-q', '--ff-only', ORIGIN_MAIN);
      const back = dev.push(dev.b);
      await eventually(() => refValue(dev.a, ORIGIN_MAIN) === back, `A fetched B's push ${round}`, 15_000);
      git(dev.a, 'merge', '-q', '--ff-only', ORIGIN_MAIN);
    }
    assert.equal(b.lines.filter((l) => l === 'DISCONNECTED origin').length, 0, 'no reconnect of the remote helped');
    assert.equal(b.lines.filter((l) => l.startsWith('WARNING * xmpp')).length, 0, b.lines.join('\n'));
  });
}

test('xmpp: a change made while the server was down is caught up when B logs in again', async (t) => {
  const dev = await makeDevices(t, { smacks: true });
  const b = dev.start(dev.b);
  await b.waitFor('CONNECTED origin', { timeoutMs: 20_000 });
  await loggedInAs(b);
  await dev.xmpp.stop();
  await eventually(() => b.stderr.some((l) => /xmpp endpoint: offline/.test(l)), 'B saw the server go');
  // Pushed by someone with no daemon at all: only B's catch-up on logging in again can bring it.
  const sha = dev.push(dev.fx.pusher);
  await dev.xmpp.start();
  await eventually(() => refValue(dev.b, ORIGIN_MAIN) === sha, 'caught up after logging in again', 30_000);
  assert.ok(b.stderr.some((l) => /nudged \(xmpp: the XMPP link is \(back\) up\)/.test(l)));
  assert.equal(b.lines.filter((l) => l === 'DISCONNECTED origin').length, 0, 'the remote itself never reconnected');
});

test('xmpp: a push made while A was off XMPP is told once A is back, to B who never left', async (t) => {
  const dev = await makeDevices(t, { smacks: true });
  const a = dev.start(dev.a);
  const b = dev.start(dev.b);
  await Promise.all([a.waitFor('CONNECTED origin', { timeoutMs: 20_000 }), b.waitFor('CONNECTED origin', { timeoutMs: 20_000 })]);
  const [, asB] = await Promise.all([loggedInAs(a), loggedInAs(b)]);
  await eventually(() => a.stderr.some((l) => l.includes(`${asB} listens for notices`)), 'A knows B');
  a.send('LOSTNET');
  await eventually(() => b.stderr.some((l) => / stopped listening$/.test(l)), 'B saw A go');
  // The user pushes anyway (the forge is reachable, XMPP is not): A's tracking ref moves.
  const sha = dev.push(dev.a);
  a.send('RESUME');
  await eventually(() => refValue(dev.b, ORIGIN_MAIN) === sha, 'B heard of it when A came back', 20_000);
  assert.ok(b.stderr.some((l) => /nudged \(xmpp: notice from me@localhost\)/.test(l)), 'by A\'s notice');
  assert.equal(b.stderr.filter((l) => /xmpp endpoint: logged in/.test(l)).length, 1, 'B never logged in again');
});

test('xmpp: a notice from a foreign account is dropped without a word; one from a trusted account is heard', async (t) => {
  const dev = await makeDevices(t, { smacks: true });
  const mallory = await dev.xmpp.register('mallory', 'correct horse');
  const colleague = await dev.xmpp.register('colleague', 'correct horse');
  git(dev.b, 'config', 'remotedaemon.xmpp.trust', colleague);
  const b = dev.start(dev.b);
  await b.waitFor('CONNECTED origin', { timeoutMs: 20_000 });
  const to = await loggedInAs(b);
  const sha = dev.push(dev.fx.pusher);
  await dev.send(mallory, to, dev.notice(sha));
  await dev.send(colleague, to, dev.notice(sha));
  await eventually(() => refValue(dev.b, ORIGIN_MAIN) === sha, 'the trusted notice was heard', 15_000);
  const nudges = b.stderr.filter((l) => /nudged \(xmpp: notice from/.test(l));
  assert.deepEqual(nudges.map((l) => /notice from (\S+)\)/.exec(l)![1]), [colleague], 'mallory, sent first, was not heard');
  const prosodyLog = await dev.xmpp.log();
  assert.ok(!/to="mallory@localhost[^"]*"[^>]*type="error"/.test(prosodyLog) && !/Sending.*mallory.*error/i.test(prosodyLog), 'no reply went to mallory');
});

test('xmpp: a flood of notices costs a bounded number of ref listings', async (t) => {
  const dev = await makeDevices(t, { smacks: true });
  const colleague = await dev.xmpp.register('colleague', 'correct horse');
  git(dev.b, 'config', 'remotedaemon.xmpp.trust', colleague);
  const b = dev.start(dev.b);
  await b.waitFor('CONNECTED origin', { timeoutMs: 20_000 });
  const to = await loggedInAs(b);
  const started = Date.now();
  await dev.send(colleague, to, dev.notice('1'.repeat(40)), 200);
  // A notice from another sender, sent after the flood was taken in full: once B heard it, B has
  // handled every notice of the flood too (one stream, in order).
  const sha = dev.push(dev.fx.pusher);
  await dev.send(dev.account, to, dev.notice(sha));
  await eventually(() => b.stderr.some((l) => /nudged \(xmpp: notice from me@localhost\)/.test(l)), 'the last notice was heard');
  const heard = b.stderr.filter((l) => /nudged \(xmpp: notice from colleague/.test(l)).length;
  // The burst, then at most one deferred look per second of the flood (and one after it).
  const deferred = b.stderr.filter((l) => /nudged \(xmpp: notices over the rate limit\)/.test(l)).length;
  const seconds = Math.ceil((Date.now() - started) / 1000);
  t.diagnostic(`flood of 200: ${heard} heard at once, ${deferred} deferred looks, in ${seconds} s`);
  assert.ok(heard >= 1 && heard <= 8, `${heard} of 200 notices nudged the remote at once`);
  assert.ok(deferred <= seconds + 1, `${deferred} deferred looks in ${seconds} s`);
  await eventually(() => refValue(dev.b, ORIGIN_MAIN) === sha, 'still working after the flood');
});

test('xmpp: a wrong password is one WARNING and no retry until RESUME; fixed, RESUME logs in', async (t) => {
  const dev = await makeDevices(t, { smacks: true });
  const store = `${dev.b}/../credentials`;
  const { writeFileSync } = await import('node:fs');
  writeFileSync(store, 'xmpp://me:wrong@localhost\n');
  const b = dev.start(dev.b);
  await b.waitFor('CONNECTED origin', { timeoutMs: 20_000 });
  const warning = await b.waitFor(/^WARNING \* xmpp endpoint: /, { timeoutMs: 20_000 });
  assert.match(warning, /refused the login.*not retrying until RESUME or RELOAD/);
  assert.ok(!warning.includes('wrong'), 'the password is never said');
  const attempts = async () => (await dev.xmpp.log()).split('\n').filter((l) => /Offering usable mechanisms/.test(l)).length;
  const first = await attempts();
  b.send('MARKER');
  await b.waitFor(/unknown message "MARKER"/);
  assert.equal(await attempts(), first, 'no second login attempt on its own');
  assert.ok(!b.stderr.some((l) => l.includes('wrong')), 'the password is never logged');
  // git's credential-store was told the password failed, as git itself would: it is gone.
  const { readFileSync } = await import('node:fs');
  await eventually(() => readFileSync(store, 'utf8').trim() === '', 'the refused password was rejected to the helper');
  writeFileSync(store, 'xmpp://me:correct%20horse@localhost\n');
  b.send('RESUME');
  await loggedInAs(b);
  assert.equal(b.lines.filter((l) => /^WARNING \* xmpp/.test(l)).length, 1);
});

test('xmpp: status shows the link: as which resource, how many devices listen, the last notice heard', async (t) => {
  const dev = await makeDevices(t, { smacks: true });
  const a = dev.start(dev.a);
  await a.waitFor('CONNECTED origin', { timeoutMs: 20_000 });
  await loggedInAs(a);
  // B in the background, as users run it; `status` reads what its endpoint last reported.
  const started = await cli(dev.b, [], dev.env);
  assert.equal(started.code, 0, started.stderr);
  // Stopped here rather than in an after hook: those run after the fixture's directories are gone.
  try {
    const status = async () => (await cli(dev.b, ['status'])).stdout;
    await eventually(() => a.stderr.some((l) => / listens for notices$/.test(l)), 'A hears B arrive');
    const sha = dev.push(dev.a);
    await eventually(() => refValue(dev.b, ORIGIN_MAIN) === sha, 'B fetched');
    let text = '';
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; ) {
      text = await status();
      if (/last notice heard/.test(text)) break;
    }
    assert.match(text, /^xmpp: connected as me@localhost\/grd-[0-9a-f]{8}, 1 other device\(s\) listening/m);
    // Long lines wrap at 80 columns: join them again to read the text.
    assert.ok(text.replace(/\n +/g, ' ').includes(`last notice heard (${normaliseUrl(dev.fx.url)} from me@localhost, for origin)`), text);
  } finally {
    await cli(dev.b, ['stop']);
  }
});

test('xmpp: a stranger\'s 70 KiB stanzas and a flood of small ones are skipped unread; the session stays up and trusted notices still arrive', async (t) => {
  const dev = await makeDevices(t, { smacks: true });
  const mallory = await dev.xmpp.register('mallory', 'correct horse');
  const colleague = await dev.xmpp.register('colleague', 'correct horse');
  git(dev.b, 'config', 'remotedaemon.xmpp.trust', colleague);
  const b = dev.start(dev.b);
  await b.waitFor('CONNECTED origin', { timeoutMs: 20_000 });
  const to = await loggedInAs(b);
  const before = usage(b.child.pid!);
  // Over the 64 KiB a kept element may have (before: "an element too large", and a new login).
  await dev.send(mallory, to, 'x'.repeat(70 * 1024), 3);
  await dev.send(mallory, to, dev.notice('2'.repeat(40)), 2000);
  const sha = dev.push(dev.fx.pusher);
  await dev.send(colleague, to, dev.notice(sha));
  await eventually(() => refValue(dev.b, ORIGIN_MAIN) === sha, 'the trusted notice was heard after the flood', 20_000);
  const after = usage(b.child.pid!);
  // The count is said at once for the first, then at most once a minute, and when the link ends.
  await b.stop();
  const counts = b.stderr.filter((l) => /skipped unread: /.test(l)).map((l) => Number(/(\d+) from accounts not trusted/.exec(l)?.[1] ?? 0));
  t.diagnostic(`skipped: ${counts.join(' + ')} stanzas in ${counts.length} log line(s); daemon CPU ${after.cpuMs - before.cpuMs} ms over the flood, RSS ${before.rss} -> ${after.rss} MB, peak ${after.peak} MB`);
  assert.equal(b.stderr.filter((l) => /xmpp endpoint: logged in as/.test(l)).length, 1, 'one login: the session never ended');
  assert.equal(counts.reduce((a, n) => a + n, 0), 2003, 'every stanza of mallory was skipped, in a few log lines');
  assert.ok(counts.length <= 2, `${counts.length} log lines for the flood`);
  assert.ok(!b.stderr.some((l) => /too large|too long/.test(l)), b.stderr.join('\n'));
  assert.ok(!b.stderr.some((l) => /nudged \(xmpp: notice from mallory/.test(l)));
});
