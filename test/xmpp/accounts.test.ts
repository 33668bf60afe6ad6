// Two accounts that trust each other (a laptop account and a work account) need a presence
// subscription both ways before either daemon can see the other: the daemons set it up
// themselves, with no roster made by hand, and a stranger is never granted one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { eventually } from '../support/daemon.js';
import { git, refValue } from '../support/git.js';
import { makeDevices, ORIGIN_MAIN, PASSWORD, seeEachOther } from './devices.js';

test('xmpp: two accounts that trust each other subscribe on their own, and pushes travel both ways; a stranger is not granted', async (t) => {
  const dev = await makeDevices(t, { smacks: true });
  const work = await dev.xmpp.register('work', PASSWORD);
  const mallory = await dev.xmpp.register('mallory', PASSWORD);
  // Device B is the work account; each trusts the other. B's password comes from git's helper.
  git(dev.b, 'config', 'remotedaemon.xmpp.jid', work);
  git(dev.b, 'config', 'remotedaemon.xmpp.trust', dev.account);
  git(dev.a, 'config', 'remotedaemon.xmpp.trust', work);
  writeFileSync(`${dev.b}/../credentials`, `xmpp://work:${encodeURIComponent(PASSWORD)}@localhost\n`, { mode: 0o600 });

  const a = dev.start(dev.a);
  const b = dev.start(dev.b);
  await Promise.all([a.waitFor('CONNECTED origin', { timeoutMs: 20_000 }), b.waitFor('CONNECTED origin', { timeoutMs: 20_000 })]);
  const [, asB] = await seeEachOther(a, b, 20_000);
  assert.match(asB, /^work@localhost\//);

  const sha = dev.push(dev.a);
  await eventually(() => refValue(dev.b, ORIGIN_MAIN) === sha, 'B (work) fetched A\'s push at once', 15_000);
  git(dev.b, 'merge', '-q', '--ff-only', ORIGIN_MAIN);
  const back = dev.push(dev.b);
  await eventually(() => refValue(dev.a, ORIGIN_MAIN) === back, 'A fetched B\'s push at once', 15_000);

  // The server's rosters: each trusted account subscribed both ways, and nobody else.
  const roster = (user: string) => dev.xmpp.roster(user);
  const rosters = () => JSON.stringify([roster('me'), roster('work')]);
  await eventually(() => rosters() === JSON.stringify([{ [work]: 'both' }, { [dev.account]: 'both' }]), 'both rosters subscribed both ways', 10_000).catch((err: Error) =>
    assert.fail(`${err.message}: ${rosters()}`),
  );
  // A stranger asking to see A's presence is never granted it: its request stays pending.
  await dev.send(mallory, dev.account, '', 0, 'subscribe');
  // Anything A would answer it comes before a later notice from the work account: wait for that.
  const sha2 = dev.push(dev.b);
  await eventually(() => refValue(dev.a, ORIGIN_MAIN) === sha2, 'A still hears its trusted account', 15_000);
  assert.notEqual(roster('mallory')[dev.account], 'to', 'mallory was not granted a subscription');
  assert.notEqual(roster('mallory')[dev.account], 'both');
  assert.equal(roster('me')[mallory], undefined, 'nor put in our roster as a contact with a subscription');
});
