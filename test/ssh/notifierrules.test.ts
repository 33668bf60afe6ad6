// The notifier's rules on their own, with a fake clock: each event, and what the rules say to do.
// (The same rules wired to a channel are in notifier.test.ts; over a real sshd in ssh.test.ts and
// hostile.test.ts.)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_NOTIFY_LINE_BYTES, NotifierProtocolError, NotifierRules, type NotifierAction, type NotifierLimits } from '../../workers/ssh/notifierrules.js';

const LIMITS: NotifierLimits = {
  readyTimeoutMs: 20_000,
  maxGarbageLines: 3,
  burstLines: 5,
  linesPerSecond: 10,
  pingEveryMs: 60_000,
  firstPongMs: 10_000,
  pongTimeoutMs: 25_000,
};
const SHA = 'a'.repeat(40);

/** The rules and a clock the test moves; `ridden`: a keepalive calls keepalivePing once asked to. */
function rules(limits: Partial<NotifierLimits> = {}, ridden = false) {
  const clock = { now: 1_000_000 };
  const subject = new NotifierRules({ ...LIMITS, ...limits }, () => clock.now, ridden);
  return { clock, subject };
}

/** The rules already past READY (and its first PING). */
function ready(limits: Partial<NotifierLimits> = {}, ridden = false) {
  const made = rules(limits, ridden);
  made.subject.start();
  made.subject.line('READY');
  return made;
}

/** Actions in short: 'arm ping 10000', 'send-ping', 'fail: <message>'... */
function said(actions: NotifierAction[]): string[] {
  return actions.map((a) => {
    switch (a.do) {
      case 'arm':
        return `arm ${a.timer} ${a.inMs}`;
      case 'disarm':
        return `disarm ${a.timer}`;
      case 'missing':
        return `missing: ${a.reason}${a.refusal ? ` (${a.refusal})` : ''}`;
      case 'fail':
        return `fail: ${a.error.message}`;
      case 'changed':
        return `changed ${a.shas.join(' ')}`;
      case 'garbage':
        return `garbage ${a.line}`;
      case 'log':
        return `log ${a.text}`;
      default:
        return a.do;
    }
  });
}

function failure(actions: NotifierAction[]): Error {
  const fail = actions.find((a) => a.do === 'fail');
  assert.ok(fail && fail.do === 'fail', `a failure in ${JSON.stringify(said(actions))}`);
  return fail.error;
}

test('the start waits readyTimeoutMs for READY; silence until then: missing', () => {
  const { subject } = rules();
  assert.deepEqual(said(subject.start()), ['arm ready 20000']);
  assert.deepEqual(said(subject.timerFired('ready')), ['missing: it said nothing within 20 s']);
  assert.ok(subject.stopped);
  assert.deepEqual(said(subject.line('READY')), [], 'too late');
});

test('READY must be the first line: anything else is a missing notifier, with what it said', () => {
  const { subject } = rules();
  subject.start();
  assert.deepEqual(said(subject.line('bash: git-remote-daemon: command not found')), ['missing: it said "bash: git-remote-daemon: command not found" instead of READY']);
  assert.deepEqual(said(subject.line('READY')), []);
  const long = rules().subject;
  assert.deepEqual(said(long.line('x'.repeat(200))), [`missing: it said "${'x'.repeat(120)}..." instead of READY`]);
});

test('READY resolves the start and sends the first PING, waiting firstPongMs for its answer', () => {
  const { subject } = rules();
  subject.start();
  assert.deepEqual(said(subject.line('READY')), ['disarm ready', 'ready', 'send-ping', 'arm ping 10000']);
  assert.equal(subject.stopped, false);
});

test('pingEveryMs 0: READY sends no PING, and nothing is ever armed for one', () => {
  const { subject } = rules({ pingEveryMs: 0 });
  subject.start();
  assert.deepEqual(said(subject.line('READY')), ['disarm ready', 'ready']);
  assert.deepEqual(said(subject.line('PONG')), [], 'no PING out: a PONG answers nothing');
});

test('READY and then silence: the first PING unanswered makes it mute (not a failure), and a late PONG changes nothing', () => {
  const { subject, clock } = ready();
  clock.now += 10_000;
  assert.deepEqual(said(subject.timerFired('ping')), ['mute']);
  assert.equal(subject.stopped, false, 'a mute notifier is still trusted for its CHANGED lines');
  assert.deepEqual(said(subject.line('PONG')), [], 'only an answer to a PING that is out counts');
  assert.deepEqual(said(subject.keepalivePing(60_000)), [], 'a mute notifier is not pinged again');
  assert.deepEqual(said(subject.line(`CHANGED ${SHA}`)), [`changed ${SHA}`]);
});

test('an answer to the first PING: answered, and the next PING is due pingEveryMs later, riding the keepalive', () => {
  const { subject, clock } = ready();
  clock.now += 300;
  assert.deepEqual(said(subject.line('PONG')), ['disarm ping', 'answered', 'arm ping 60000', 'ride-keepalive']);
  assert.deepEqual(said(subject.line('PONG')), [], 'an answer with no PING out');
  clock.now += 60_000;
  assert.deepEqual(said(subject.timerFired('ping')), ['send-ping', 'arm ping 25000'], 'a busy link: its own timer sends it');
  assert.deepEqual(said(subject.line('PONG')), ['disarm ping', 'answered', 'arm ping 60000'], 'the keepalive is ridden once');
});

test('a PONG that stops coming after the first: a protocol failure once pongTimeoutMs passed', () => {
  const { subject, clock } = ready();
  subject.line('PONG');
  clock.now += 60_000;
  subject.timerFired('ping');
  clock.now += 25_000;
  const actions = subject.timerFired('ping');
  assert.deepEqual(said(actions), ['fail: the notifier stopped answering (no PONG within 25 s)']);
  assert.ok(failure(actions) instanceof NotifierProtocolError);
  assert.ok(subject.stopped);
  assert.deepEqual(said(subject.line('PONG')), [], 'too late');
});

test("the keepalive's ping carries the PING once the next keepalive ping would come after it is due", () => {
  const { subject, clock } = ready();
  subject.line('PONG'); // due at +60 s
  clock.now += 40_000;
  assert.deepEqual(said(subject.keepalivePing(16_000)), [], 'the next keepalive ping (+56 s) is still before it is due');
  clock.now += 4_000;
  assert.deepEqual(said(subject.keepalivePing(16_000)), ['send-ping', 'arm ping 25000'], 'at +44 s: the next one (+60 s) would not be before');
  assert.deepEqual(said(subject.keepalivePing(16_000)), [], 'one PING out at a time');
  clock.now += 1_000;
  assert.deepEqual(said(subject.line('PONG')), ['disarm ping', 'answered', 'arm ping 60000']);
  assert.deepEqual(said(subject.keepalivePing(16_000)), [], 'the next one is due a full pingEveryMs after the answer');
});

test('ridden by a keepalive: after the first answer no timer is armed for PINGs; each goes, and its answer is looked for, in the keepalive turns', () => {
  const { subject, clock } = ready({}, true);
  clock.now += 300;
  assert.deepEqual(said(subject.line('PONG')), ['disarm ping', 'answered', 'ride-keepalive'], 'no timer for the next PING: the keepalive carries it');
  clock.now += 44_000;
  assert.deepEqual(said(subject.keepalivePing(16_000)), ['send-ping'], 'due before the next turn: sent now, and no timer for its answer');
  clock.now += 1_000;
  assert.deepEqual(said(subject.line('PONG')), ['disarm ping', 'answered'], 'answered; the keepalive is ridden once');
  clock.now += 59_000;
  assert.deepEqual(said(subject.keepalivePing(16_000)), ['send-ping']);
  clock.now += 16_000;
  assert.deepEqual(said(subject.keepalivePing(16_000)), [], '16 s without an answer: not overdue yet');
  clock.now += 9_000;
  const actions = subject.keepalivePing(16_000);
  assert.deepEqual(said(actions), ['fail: the notifier stopped answering (no PONG within 25 s)'], 'the first turn past pongTimeoutMs finds it overdue');
  assert.ok(failure(actions) instanceof NotifierProtocolError);
  assert.deepEqual(said(subject.keepalivePing(16_000)), []);
});

test('ridden, the first PING still has its timer: the keepalive does not ride before the notifier answered', () => {
  const { subject, clock } = rules({}, true);
  subject.start();
  assert.deepEqual(said(subject.line('READY')), ['disarm ready', 'ready', 'send-ping', 'arm ping 10000']);
  clock.now += 10_000;
  assert.deepEqual(said(subject.timerFired('ping')), ['mute']);
  assert.deepEqual(said(subject.keepalivePing(16_000)), [], 'a mute notifier is neither pinged nor failed in a keepalive turn');
});

test('no keepalive ride before the notifier answered: the first PING is the one at READY', () => {
  const { subject } = ready();
  assert.deepEqual(said(subject.keepalivePing(1e9)), []);
});

test('CHANGED lines after READY are reported', () => {
  const { subject } = ready();
  assert.deepEqual(said(subject.line(`CHANGED ${SHA} ${'b'.repeat(40)}`)), [`changed ${SHA} ${'b'.repeat(40)}`]);
});

test('a flood: burstLines lines at once pass, the next is a protocol failure; a trickle is not a flood', () => {
  const { subject, clock } = ready(); // 5 at once, then 10/s
  for (let i = 0; i < 5; i++) assert.deepEqual(said(subject.line(`CHANGED ${SHA}`)), [`changed ${SHA}`]);
  clock.now += 100; // one token back
  assert.deepEqual(said(subject.line(`CHANGED ${SHA}`)), [`changed ${SHA}`]);
  const actions = subject.line(`CHANGED ${SHA}`);
  assert.deepEqual(said(actions), ['fail: the notifier floods: more than 5 lines at once (10/s allowed)']);
  assert.ok(failure(actions) instanceof NotifierProtocolError);
  assert.deepEqual(said(subject.line(`CHANGED ${SHA}`)), []);
});

test('PONGs and garbage count towards the flood too', () => {
  const { subject } = ready({ maxGarbageLines: 100 });
  for (let i = 0; i < 5; i++) subject.line(i % 2 ? 'PONG' : 'hello');
  assert.match(said(subject.line('PONG'))[0]!, /^fail: the notifier floods/);
});

test('garbage after READY: reported up to maxGarbageLines, one more is a protocol failure', () => {
  const { subject, clock } = ready();
  for (let i = 1; i <= 3; i++) {
    clock.now += 1_000;
    assert.deepEqual(said(subject.line(`junk ${i}`)), [`garbage junk ${i}`]);
  }
  clock.now += 1_000;
  subject.line(`CHANGED ${SHA}`); // good lines in between do not forgive the bad
  const actions = subject.line('junk 4');
  assert.deepEqual(said(actions), ['fail: the notifier sent 4 lines that are not READY or CHANGED (the last: "junk 4")']);
  assert.ok(failure(actions) instanceof NotifierProtocolError);
});

test('an overlong line: a missing notifier before READY, a protocol failure after', () => {
  const before = rules().subject;
  before.start();
  assert.deepEqual(said(before.overlong()), [`missing: it sent a line longer than ${MAX_NOTIFY_LINE_BYTES} bytes`]);
  const { subject } = ready();
  const actions = subject.overlong();
  assert.deepEqual(said(actions), [`fail: notifier line longer than ${MAX_NOTIFY_LINE_BYTES} bytes`]);
  assert.ok(failure(actions) instanceof NotifierProtocolError);
  assert.deepEqual(said(subject.overlong()), []);
});

test('the channel closing before READY: missing, with how it ended, its last stderr lines and who refused', () => {
  const notFound = rules().subject;
  notFound.start();
  assert.deepEqual(said(notFound.channelClosed(127, 'sh: 1: git-remote-daemon: not found\n')), ['missing: command not found (exit 127): "sh: 1: git-remote-daemon: not found" (not-found)']);
  const shell = rules().subject;
  assert.deepEqual(said(shell.channelClosed(128, "one\ntwo\nthree\nfatal: unrecognized command 'x'\n")), [
    `missing: it exited with 128: "two / three / fatal: unrecognized command 'x'" (git-shell)`,
  ]);
  const silent = rules().subject;
  assert.deepEqual(said(silent.channelClosed(undefined, '')), ['missing: its channel closed (other)']);
});

test('the channel closing after READY: a failure (not a protocol error), its stderr logged; after close() or a failure, nothing', () => {
  const { subject } = ready();
  const actions = subject.channelClosed(1, 'boom\n');
  assert.deepEqual(said(actions), ['log notifier stderr: boom', 'fail: the notifier ended (it exited with 1: "boom")']);
  assert.ok(!(failure(actions) instanceof NotifierProtocolError));
  const closed = ready().subject;
  assert.deepEqual(said(closed.close()), ['closed']);
  assert.deepEqual(said(closed.close()), [], 'close() is idempotent');
  assert.deepEqual(said(closed.channelClosed(0, 'bye')), []);
  assert.deepEqual(said(closed.timerFired('ping')), []);
  assert.deepEqual(said(closed.line(`CHANGED ${SHA}`)), []);
});
