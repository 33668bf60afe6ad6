// ssh keepalive for a held connection, in place of ssh2's own. A stall (every server process of the
// connection frozen: the server's kernel still ACKs, so TCP keepalive cannot see it) must be noticed
// within the stall target, and an idle connection should wake its thread as seldom as that allows.
//
// ssh2's keepalive pings every interval whatever the traffic and gives up one interval after an
// unanswered ping: noticing a stall within 20 s costs a ping every 10 s at best. Here a ping goes
// out only after `quietMs` in which the server sent nothing at all, and the link counts as stalled
// when nothing arrived within `answerMs` of it: the two add up to the stall budget, and the
// interval can take most of it (16 s + 3 s instead of 9 s + 9 s: 44 % fewer pings per idle
// remote, measured in `node dist/bench/proof.js idle-ssh`). Anything the server sends proves it
// alive, so a big fetch on a slow link, whose keepalive answer would queue behind the pack, is
// never taken for a stall, and pings pause while traffic flows.
//
// The pings of idle links go out on a grid of wall-clock time, the same in every thread: each idle
// remote's thread then wakes at the same moments as the others' (ping, answer, deadline), and a
// wake-up shared costs less than one alone (each thread's CPU time, measured on these VMs: ~0.6 ms
// aligned, ~1.0 ms spread out). A ping goes at the last multiple of the quiet interval before
// silence reaches it, if that leaves at least 0.4 of it silent, else half an interval later: so a
// ping never comes later than before (the stall budget holds), an idle link pings every quiet
// interval on the grid's full points, and one put off the grid by traffic is back on it after
// one ping.
//
// The ping is ssh2's own keepalive@openssh.com global request (Protocol#ping, private: ssh2 offers
// no public way to send it), with a placeholder pushed on its reply queue as ssh2's keepalive does,
// so the replies to other global requests still reach their callers. The answer is not awaited by
// callback: it is data on the socket like any other.

import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { Client } from 'ssh2';

export interface KeepaliveTiming {
  /** Silence from the server after which a ping goes out. */
  quietMs: number;
  /** How long after a ping something must have arrived, or the link counts as stalled. */
  answerMs: number;
}

/**
 * The part of a connection's keepalive that other work rides on: an idle thread then wakes for
 * one timer, the keepalive's, rather than two (each wake-up of a Node thread costs about a
 * millisecond of CPU).
 */
export interface KeepaliveRide {
  /** About this long at most between two turns that riders run in (pings, or data on a busy link). */
  quietMs: number;
  onPing(fn: () => void): () => void;
}

export interface Keepalive {
  stop(): void;
  /**
   * Runs `fn` in the turn of each ping, just before it goes out: something else that must ask the
   * server now and then (the notifier's PING) asks in the same wake-up. A busy link sends no
   * pings: there `fn` runs in a turn that received data, once `quietMs` passed since it last ran,
   * so it runs at least that often either way with no timer of its own. Returns the undo.
   */
  onPing(fn: () => void): () => void;
}

/** What of ssh2's internals sending its keepalive needs (ssh2 1.x). */
interface Ssh2Internals {
  _protocol?: { ping?: () => void };
  _callbacks?: unknown[];
}

/**
 * Timers fire when the event loop's cached clock says so, which may be a little behind
 * performance.now(): a deadline this close counts as reached, rather than costing one more wake-up
 * a millisecond later.
 */
const EARLY_MS = 50;

const noReply = () => {};

/** Less silence than this share of the quiet interval before a grid point: ping half an interval later. */
const MIN_SILENCE = 0.4;

/**
 * When (on performance.now()'s clock) a link last heard at `heardAt` pings: on the grid of
 * wall-clock multiples of `quietMs`, never later than `heardAt + quietMs` (see the header).
 */
export function nextPingAt(heardAt: number, quietMs: number, origin = performance.timeOrigin): number {
  const heard = origin + heardAt;
  const full = Math.floor((heard + quietMs) / quietMs) * quietMs;
  const at = full - heard >= MIN_SILENCE * quietMs ? full : full + quietMs / 2;
  return at - origin;
}

/**
 * Starts the keepalive on a connected client. `stalled` is called once, when a ping went
 * unanswered for `answerMs`, with how long nothing had been heard; the keepalive has stopped by
 * then. `sock` is what the client reads from (a TCP socket, or the jump host's channel for
 * ProxyJump).
 */
export function startKeepalive(client: Client, sock: Duplex, timing: KeepaliveTiming, stalled: (silentMs: number) => void): Keepalive {
  const internals = client as unknown as Ssh2Internals;
  const protocol = internals._protocol;
  const replies = internals._callbacks;
  if (typeof protocol?.ping !== 'function' || !Array.isArray(replies)) {
    throw new Error('ssh2 no longer has Protocol#ping and its reply queue: the keepalive (workers/ssh/keepalive.ts) needs updating');
  }
  let heardAt = performance.now();
  let pingedAt: number | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const riders = new Set<() => void>();
  let rodeAt = heardAt;
  const ride = (now: number) => {
    rodeAt = now;
    for (const rider of riders) rider();
  };
  // Per chunk received: stamping the time. The first chunk after a ping also moves the timer from
  // the answer's deadline to the next ping, in this wake-up: a deadline checked after the answer
  // came would be one more timer turn per ping for nothing.
  const heard = () => {
    heardAt = performance.now();
    if (riders.size > 0 && heardAt - rodeAt >= timing.quietMs && !stopped) ride(heardAt);
    if (pingedAt === undefined || stopped) return;
    pingedAt = undefined;
    clearTimeout(timer);
    arm(nextPingAt(heardAt, timing.quietMs) - heardAt);
  };
  sock.on('data', heard);

  const arm = (ms: number) => {
    timer = setTimeout(tick, Math.max(1, Math.ceil(ms)));
  };
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
    sock.off('data', heard);
  };
  function tick(): void {
    if (stopped) return;
    const now = performance.now();
    if (pingedAt !== undefined && heardAt < pingedAt) {
      const left = pingedAt + timing.answerMs - now;
      if (left > EARLY_MS) return arm(left);
      // After a long busy spell, timers run before the loop reads what arrived meanwhile: look
      // again once it has read (setImmediate runs after the poll), so a late turn is no stall.
      setImmediate(() => {
        if (stopped) return;
        if (heardAt < pingedAt!) {
          stop();
          stalled(performance.now() - heardAt);
        } else tick();
      });
      return;
    }
    pingedAt = undefined;
    const left = nextPingAt(heardAt, timing.quietMs) - now;
    if (left > EARLY_MS) return arm(left);
    if (!sock.writable) return stop();
    ride(now);
    replies!.push(noReply);
    protocol!.ping!();
    pingedAt = now;
    arm(timing.answerMs);
  }
  arm(nextPingAt(heardAt, timing.quietMs) - heardAt);
  return {
    stop,
    onPing(fn) {
      riders.add(fn);
      return () => riders.delete(fn);
    },
  };
}
