// Shared endpoints: the daemon-level part of a transport that several remotes share (a listening
// socket, a peer-to-peer node, an account's login). Each runs in its own thread, supervised like a
// remote's worker (a crash is reported and restarted with backoff), and each of the transport's
// remotes gets a message channel to it. An endpoint that carries change notices (`notices: true`,
// workers/notice/) is linked to every remote instead, whatever its transport. The coordinator only
// wires ports.
//
// The threads belong to the process (EndpointHost); each repository's coordinator sees only its
// own part (Endpoints). Repositories whose config asks for the same endpoint (the plugin's
// `identity`: the webhook's address, the XMPP account) with the same settings share one thread;
// the names of their remotes are qualified by repository inside it, so two `origin`s never meet.
// One whose settings differ from those the thread runs with, or whose identity may not be shared
// (a peer key), gets no part of it and says why (`endpoint:<plugin>:taken`) until that changes.
// Settings a plugin declares each repository's own (`own`: the webhook's secret, XMPP's trust
// list) need not agree: the thread never gets them, each remote's attach (as its transport's
// endpoint or as a notice carrier's) carries its repository's; one whose own
// settings cannot be read (a secret file others can read) gets no part (`endpoint:<plugin>:own`),
// the others keep theirs. A per-repository daemon has a host of its own with one repository in it.
//
// Every change applies to the running daemon: an endpoint the config asks for starts and links
// the remotes already running; one it no longer asks for stops, and its remotes hear it is gone.
// While a repository is paused it has no part in any endpoint (none of its remotes is linked, it
// hears nothing); an endpoint no repository wants any more stops, so nothing listens or connects
// while every repository that wanted it is paused. RESUME gives the repository its part again, at
// once, starting the endpoint if it no longer runs, and relinks its remotes.

import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import type { GitConfig } from '../shared/gitconfig.js';
import { DAEMON } from './protocol.js';
import type { ProtocolGate } from './gate.js';
import { Supervised } from './supervisor.js';
import type { RepoInfo } from '../shared/workerapi.js';
import type { EndpointIdentity, EndpointOwner, EndpointStatus, EndpointTask, FromEndpoint, ToEndpoint } from '../shared/plugin.js';

/** A repository's own settings of an endpoint (see EndpointPlugin.own), as read. */
interface Own {
  values: Record<string, unknown>;
  /** Compared to tell a change; in memory only, never said. */
  key: string;
}

export interface EndpointsOptions {
  /** The pool, when the repository has no host (`host`): a host of its own is made on it. */
  pool: Piscina;
  /** The process's endpoints, when several repositories share them (the shared daemon's). */
  host?: EndpointHost;
  repo: RepoInfo;
  gate: ProtocolGate;
  log(text: string): void;
  /**
   * The endpoint was (re)started: hand `port` (the remote's new end) to that remote's worker; as
   * its transport's endpoint, or as the notice carrier `carrier`.
   */
  relink(remote: string, port: MessagePort, carrier?: string): void;
  /**
   * The config no longer asks for the endpoint: that remote's link to it (as its transport's
   * endpoint, or as the notice carrier `carrier`) is gone for good, not restarting.
   */
  gone?(remote: string, carrier?: string): void;
  /** What an endpoint shows in status changed. */
  onStatus?(): void;
  restartBackoff?: { initialMs: number; maxMs: number };
}

export interface EndpointHostOptions {
  pool: Piscina;
  /**
   * Several repositories may use it: the remote names an endpoint hears are qualified by
   * repository (`origin in /path`). Without it (a daemon of one repository) they are as is.
   */
  qualify?: boolean;
  restartBackoff?: { initialMs: number; maxMs: number };
}

/** What the config asks of one endpoint, as last read. */
interface Wanted {
  plugin: EndpointOwner;
  /** Those that must agree to share the thread: without the repository's own. */
  settings: Record<string, unknown>;
  key: string;
  identity?: EndpointIdentity;
  /** The repository's own settings, or why they cannot be had. */
  own?: Own | { problem: string };
}

/** Why a repository has no part in an endpoint it asks for, under the condition kind said. */
interface Refusal {
  kind: string;
  text: string;
}

/** A repository asking for an endpoint, with what it asks. */
interface Request {
  member: Member;
  wanted: Wanted;
}

/** One repository's part. */
interface Member {
  readonly id: number;
  readonly options: EndpointsOptions;
  readonly wanted: Map<string, Wanted>;
  /** Every remote with a worker, its URL and transport: what an endpoint started later links to. */
  readonly known: Map<string, { url: string; transport?: string }>;
  /** The endpoints it is part of, by plugin name. */
  readonly joined: Map<string, Unit>;
  /** Endpoints it asks for but may not have a part in now, with why (said as a condition of that kind). */
  readonly refused: Map<string, Refusal>;
  paused: boolean;
  lostnet: boolean;
  closed: boolean;
}

interface Link {
  member: Member;
  remote: string;
  url: string;
}

/** One endpoint thread of the process. */
interface Unit {
  id: string;
  plugin: EndpointOwner;
  settings: Record<string, unknown>;
  key: string;
  /** Repositories may share it (its identity says so). */
  shareable: boolean;
  /** Its repositories, in the order they joined: the first one's repository is the task's. */
  members: Member[];
  /**
   * The repository that left it last: what the thread logs once nobody uses it (while it stops:
   * the last counts it says) still goes to a log.
   */
  lastMember?: Member;
  /** Remotes linked to it (by qualified name). */
  linked: Map<string, Link>;
  /** Each repository's own settings, as its remotes were attached with them. */
  own: Map<Member, Own>;
  /** It carries notices: every remote is linked to it (these ones), whatever its transport. */
  notices: boolean;
  noticeLinked: Map<string, Link>;
  status?: EndpointStatus;
  /**
   * The conditions it reports that hold now (kind -> text): said again on RESUME, unless RESUME
   * makes the endpoint try again (then its attempt says whether they still hold).
   */
  conditions: Map<string, { text: string; retriedOnResume: boolean }>;
  /** Its thread was started (after the previous one of its identity ended). */
  launched: boolean;
  unit: Supervised<FromEndpoint>;
}

/** Shown in status for an endpoint the config wants while the daemon is paused. */
export const PAUSED_ENDPOINT = 'paused: not listening, not connected (RESUME starts it)';

/** The condition kind of a repository refused a part in an endpoint of the process. */
export const TAKEN = 'taken';

/** The condition kind of a repository refused a part because its own settings cannot be read. */
export const OWN = 'own';

/** The process's endpoint threads, each shared by the repositories that ask for the same one. */
export class EndpointHost {
  private readonly units = new Map<string, Unit>();
  private readonly members = new Set<Member>();
  /** Endpoints whose thread is still ending: a new one of that identity starts only after. */
  private readonly ending = new Map<string, Promise<void>>();
  private nextId = 0;

  constructor(private readonly options: EndpointHostOptions) {}

  /** Identities of the running endpoint threads, and how many repositories each serves (tests, status). */
  threads(): { id: string; repositories: number }[] {
    return [...this.units.values()].map((u) => ({ id: u.id, repositories: u.members.length }));
  }

  /** @internal Endpoints' part. */
  join(options: EndpointsOptions): Member {
    const member: Member = { id: this.nextId++, options, wanted: new Map(), known: new Map(), joined: new Map(), refused: new Map(), paused: false, lostnet: false, closed: false };
    this.members.add(member);
    return member;
  }

  /** @internal */
  configure(member: Member, owners: readonly EndpointOwner[], config: GitConfig): string[] {
    const problems: string[] = [];
    for (const plugin of owners) {
      if (!plugin.endpoint) continue;
      const wanted = plugin.endpoint.settings(config);
      problems.push(...(wanted?.problems ?? []));
      if (!wanted?.settings) {
        member.wanted.delete(plugin.name);
        continue;
      }
      const { own: ownSpec } = plugin.endpoint;
      const settings = Object.fromEntries(Object.entries(wanted.settings).filter(([k]) => !ownSpec?.keys.includes(k)));
      let own: Wanted['own'];
      if (ownSpec) {
        try {
          const values = ownSpec.read(wanted.settings);
          own = { values, key: JSON.stringify(values) };
        } catch (err) {
          own = { problem: (err as Error).message };
        }
      }
      let identity: EndpointIdentity | undefined;
      try {
        identity = plugin.endpoint.identity?.(settings, member.options.repo);
      } catch (err) {
        problems.push(`${plugin.name} endpoint: ${(err as Error).message}`);
      }
      member.wanted.set(plugin.name, { plugin, settings, key: JSON.stringify(settings), ...(identity && { identity }), ...(own && { own }) });
    }
    this.reconcile();
    member.options.onStatus?.();
    return problems;
  }

  /** @internal */
  link(member: Member, transport: string, remote: string, url: string): MessagePort | undefined {
    member.known.set(remote, { url, transport });
    const unit = member.joined.get(transport);
    if (!unit?.launched) return undefined;
    const name = this.qualified(member, remote);
    unit.linked.set(name, { member, remote, url });
    return attach(unit, name, url, false, unit.own.get(member));
  }

  /** @internal */
  linkNotices(member: Member, remote: string, url: string): { carrier: string; port: MessagePort }[] {
    member.known.set(remote, { url, transport: member.known.get(remote)?.transport });
    const ports: { carrier: string; port: MessagePort }[] = [];
    const name = this.qualified(member, remote);
    for (const [carrier, unit] of member.joined) {
      if (!unit.notices || !unit.launched) continue;
      unit.noticeLinked.set(name, { member, remote, url });
      ports.push({ carrier, port: attach(unit, name, url, true, unit.own.get(member)) });
    }
    return ports;
  }

  /** @internal */
  unlink(member: Member, transport: string, remote: string): void {
    member.known.delete(remote);
    const name = this.qualified(member, remote);
    for (const unit of member.joined.values()) {
      if (unit.noticeLinked.delete(name)) unit.unit.post({ type: 'detach', remote: name, notices: true } satisfies ToEndpoint);
    }
    const unit = member.joined.get(transport);
    if (!unit?.linked.delete(name)) return;
    unit.unit.post({ type: 'detach', remote: name } satisfies ToEndpoint);
  }

  /** @internal */
  control(member: Member, what: 'pause' | 'lostnet' | 'resume' | 'reload'): void {
    if (what === 'pause') {
      member.paused = true;
      this.reconcile();
      member.options.onStatus?.();
      return;
    }
    if (what === 'lostnet') member.lostnet = true;
    if (what === 'resume') member.lostnet = false;
    for (const unit of member.joined.values()) {
      // Off the network only when every repository it serves is: the others still use it.
      if (what === 'lostnet' && !unit.members.every((m) => m.lostnet)) continue;
      unit.unit.post({ type: 'control', what } satisfies ToEndpoint);
    }
    if (what === 'resume' && member.paused) {
      member.paused = false;
      this.reconcile();
      member.options.onStatus?.();
    }
  }

  /** @internal CHANGED names this repository's refs: only an endpoint of its own hears it. */
  changed(member: Member, refs: string[]): void {
    for (const unit of member.joined.values()) {
      if (!unit.shareable) unit.unit.post({ type: 'changed', refs } satisfies ToEndpoint);
    }
  }

  /** @internal */
  resay(member: Member): void {
    const { gate } = member.options;
    for (const [name, unit] of member.joined) {
      for (const [kind, { text, retriedOnResume }] of unit.conditions) {
        if (retriedOnResume) continue;
        gate.raise(DAEMON, `endpoint:${name}:${kind}`, `${name} endpoint: ${text}`);
      }
    }
    for (const [name, { kind, text }] of member.refused) gate.raise(DAEMON, `endpoint:${name}:${kind}`, `${name} endpoint: ${text}`);
  }

  /** @internal */
  status(member: Member): ({ name: string } & EndpointStatus)[] {
    const shown = [...member.joined].filter(([, u]) => u.status).map(([name, u]) => ({ name, ...u.status! }));
    for (const [name, { text }] of member.refused) shown.push({ name, summary: `off: ${text}` });
    if (member.paused) for (const name of member.wanted.keys()) shown.push({ name, summary: PAUSED_ENDPOINT });
    return shown;
  }

  /** @internal The repository leaves every endpoint; those it alone used stop. */
  async leave(member: Member): Promise<void> {
    member.closed = true;
    this.reconcile();
    this.members.delete(member);
    await Promise.all(this.ending.values());
  }

  private qualified(member: Member, remote: string): string {
    return this.options.qualify ? `${remote} in ${member.options.repo.cwd}` : remote;
  }

  /**
   * Gives each repository the part the config asks for: which endpoint thread of the process it
   * is in (or why none), starting, updating and stopping threads to match.
   */
  private reconcile(): void {
    const plugins = new Set<string>();
    for (const m of this.members) for (const name of [...m.wanted.keys(), ...m.joined.keys(), ...m.refused.keys()]) plugins.add(name);
    for (const name of plugins) this.reconcilePlugin(name);
  }

  private unitId(member: Member, name: string, wanted: Wanted): string {
    return wanted.identity ? `${name} ${wanted.identity.key}` : `${name} #${member.id}`;
  }

  private reconcilePlugin(name: string): void {
    const refused = new Map<Member, Refusal>();
    const { assigned, holders } = this.assign(name, this.requests(name, refused), refused);
    // Leaving: the config no longer asks (gone), refused (gone: no link will come), paused or
    // stopping (not gone: RESUME links them again), or moved to another thread (relinked there).
    for (const member of this.members) {
      const unit = member.joined.get(name);
      const target = assigned.get(member);
      if (!unit || unit.id === target?.id) continue;
      if (target && !this.units.has(target.id) && !this.ending.has(target.id) && unit.members.length === 1) {
        // Its own thread, now of another identity (a new port, another account): the thread takes
        // the new settings, as it would any change, rather than stopping and starting.
        this.units.delete(unit.id);
        unit.id = target.id;
        unit.shareable = target.wanted.identity?.shared === true;
        this.units.set(unit.id, unit);
        continue;
      }
      this.leaveUnit(member, unit, !member.wanted.has(name) || refused.has(member));
    }
    for (const unit of [...this.units.values()]) if (unit.plugin.name === name && unit.members.length === 0) void this.stopUnit(unit);
    // Joining, and the settings each thread runs with (its holder's).
    const started: Unit[] = [];
    for (const [member, { id, wanted }] of assigned) {
      let unit = this.units.get(id);
      if (!unit) started.push((unit = this.newUnit(id, wanted, member)));
      const own = wanted.own && 'key' in wanted.own ? wanted.own : undefined;
      if (!unit.members.includes(member)) {
        if (own) unit.own.set(member, own);
        this.joinUnit(member, unit);
      } else if (own && unit.own.get(member)?.key !== own.key) {
        // Its own settings changed (a new secret): its remotes attach again with them.
        unit.own.set(member, own);
        if (unit.launched) this.linkMember(unit, member);
      }
    }
    for (const [id, holder] of holders) {
      const unit = this.units.get(id);
      if (!unit || unit.key === holder.key) continue;
      unit.settings = holder.settings;
      unit.key = holder.key;
      unit.unit.post({ type: 'settings', settings: holder.settings } satisfies ToEndpoint);
    }
    for (const unit of started) this.launch(unit);
    this.sayRefusals(name, refused);
  }

  /**
   * Who asks for which endpoint of this plugin, grouped by thread, in the order the repositories
   * came; a repository whose own settings cannot be had is refused here, alone.
   */
  private requests(name: string, refused: Map<Member, Refusal>): Map<string, Request[]> {
    const groups = new Map<string, Request[]>();
    for (const member of this.members) {
      const wanted = member.wanted.get(name);
      if (!wanted || member.paused || member.closed) continue;
      if (wanted.own && 'problem' in wanted.own) {
        // Its own settings cannot be had: it alone gets no part; the others share on.
        refused.set(member, { kind: OWN, text: `${wanted.own.problem}; off for this repository` });
        continue;
      }
      const id = this.unitId(member, name, wanted);
      groups.set(id, [...(groups.get(id) ?? []), { member, wanted }]);
    }
    return groups;
  }

  /**
   * Each group's holder (whose settings its thread runs with) and the repositories that join it;
   * those whose settings differ from the holder's, or whose own settings would pass the bound,
   * are refused.
   */
  private assign(name: string, groups: Map<string, Request[]>, refused: Map<Member, Refusal>): { assigned: Map<Member, { id: string; wanted: Wanted }>; holders: Map<string, Wanted> } {
    const assigned = new Map<Member, { id: string; wanted: Wanted }>();
    const holders = new Map<string, Wanted>();
    for (const [id, entries] of groups) {
      const unit = this.units.get(id);
      // The thread keeps the settings it runs with while a repository of it still asks for them;
      // else it takes the first repository's.
      const holder = entries.find((e) => unit?.members.includes(e.member) && e.wanted.key === unit.key) ?? entries[0]!;
      holders.set(id, holder.wanted);
      // Different own settings (secrets) in one thread, bounded: each costs every delivery's work.
      const owns = new Set<string>();
      const ownSpec = holder.wanted.plugin.endpoint!.own;
      const ordered = [holder, ...entries.filter((e) => e !== holder && unit?.members.includes(e.member)), ...entries.filter((e) => e !== holder && !unit?.members.includes(e.member))];
      for (const e of ordered) {
        if (e !== holder && !(e.wanted.identity?.shared === true && e.wanted.key === holder.wanted.key)) {
          refused.set(e.member, { kind: TAKEN, text: refusal(e.wanted, holder) });
          continue;
        }
        const ownKey = e.wanted.own && 'key' in e.wanted.own ? e.wanted.own.key : undefined;
        if (ownSpec && ownKey !== undefined && !owns.has(ownKey) && owns.size >= ownSpec.max) {
          const text = `${e.wanted.identity?.describe ?? `the ${name} endpoint`} already serves ${ownSpec.max} different ${ownSpec.describe} in this daemon, the most one may; off for this repository`;
          refused.set(e.member, { kind: TAKEN, text });
          continue;
        }
        if (ownKey !== undefined) owns.add(ownKey);
        assigned.set(e.member, { id, wanted: e.wanted });
      }
    }
    return { assigned, holders };
  }

  /** Each repository's refusal for this plugin, said when it starts or changes, cleared when it ends. */
  private sayRefusals(name: string, refused: Map<Member, Refusal>): void {
    for (const member of this.members) {
      const now = refused.get(member);
      const before = member.refused.get(name);
      if (before && (now === undefined || now.kind !== before.kind)) {
        member.refused.delete(name);
        member.options.gate.clear(DAEMON, `endpoint:${name}:${before.kind}`);
      }
      if (now !== undefined && (before?.kind !== now.kind || before.text !== now.text)) {
        member.refused.set(name, now);
        member.options.gate.raise(DAEMON, `endpoint:${name}:${now.kind}`, `${name} endpoint: ${now.text}`);
      }
    }
  }

  private joinUnit(member: Member, unit: Unit): void {
    unit.members.push(member);
    member.joined.set(unit.plugin.name, unit);
    const name = unit.plugin.name;
    for (const [kind, { text }] of unit.conditions) member.options.gate.raise(DAEMON, `endpoint:${name}:${kind}`, `${name} endpoint: ${text}`);
    if (unit.launched) this.linkMember(unit, member);
    member.options.onStatus?.();
  }

  /** The member's part ends: its remotes are detached (told it is `gone` for good when so). */
  private leaveUnit(member: Member, unit: Unit, gone: boolean): void {
    const name = unit.plugin.name;
    for (const [qualified, link] of [...unit.linked]) {
      if (link.member !== member) continue;
      unit.linked.delete(qualified);
      unit.unit.post({ type: 'detach', remote: qualified } satisfies ToEndpoint);
      if (gone) member.options.gone?.(link.remote);
    }
    for (const [qualified, link] of [...unit.noticeLinked]) {
      if (link.member !== member) continue;
      unit.noticeLinked.delete(qualified);
      unit.unit.post({ type: 'detach', remote: qualified, notices: true } satisfies ToEndpoint);
      if (gone) member.options.gone?.(link.remote, name);
    }
    unit.members = unit.members.filter((m) => m !== member);
    unit.own.delete(member);
    if (unit.members.length === 0) unit.lastMember = member;
    member.joined.delete(name);
    // Nothing the endpoint said holds for this repository any more.
    member.options.gate.forgetWhere((remote, kind) => remote === DAEMON && kind.startsWith(`endpoint:${name}:`) && kind !== `endpoint:${name}:${TAKEN}` && kind !== `endpoint:${name}:${OWN}`);
    member.options.onStatus?.();
  }

  /** Links every remote of `member` the endpoint serves, with fresh channels. */
  private linkMember(unit: Unit, member: Member): void {
    const name = unit.plugin.name;
    for (const [remote, { url, transport }] of member.known) {
      if (transport !== name) continue;
      const qualified = this.qualified(member, remote);
      unit.linked.set(qualified, { member, remote, url });
      member.options.relink(remote, attach(unit, qualified, url, false, unit.own.get(member)));
    }
    // A carrier: every remote, whatever its transport.
    if (unit.notices) {
      for (const [remote, { url }] of member.known) {
        const qualified = this.qualified(member, remote);
        unit.noticeLinked.set(qualified, { member, remote, url });
        member.options.relink(remote, attach(unit, qualified, url, true, unit.own.get(member)), name);
      }
    }
  }

  /** A thread for `id`, not started yet: its repositories join it first (launch). */
  private newUnit(id: string, wanted: Wanted, creator: Member): Unit {
    const { plugin } = wanted;
    const name = plugin.name;
    const kind = (k: string) => `endpoint:${name}:${k}`;
    const each = (fn: (m: Member) => void) => unit.members.forEach(fn);
    const logTo = (text: string) => {
      const to = unit.members.length > 0 ? unit.members : unit.lastMember ? [unit.lastMember] : [];
      for (const m of to) m.options.log(`${name} endpoint: ${text}`);
    };
    const unit: Unit = {
      id,
      plugin,
      settings: wanted.settings,
      key: wanted.key,
      shareable: wanted.identity?.shared === true,
      members: [],
      linked: new Map(),
      own: new Map(),
      notices: plugin.endpoint!.notices === true,
      noticeLinked: new Map(),
      conditions: new Map(),
      launched: false,
      unit: new Supervised<FromEndpoint>({
        pool: this.options.pool,
        filename: plugin.endpoint!.file,
        restartBackoff: this.options.restartBackoff ?? creator.options.restartBackoff,
        task: (port) => ({
          task: {
            kind: 'endpoint',
            plugin: name,
            settings: unit.settings,
            // The first repository's: where the endpoint asks git (XMPP's credential helper).
            repo: unit.members[0]!.options.repo,
            port,
            ...(unit.members.every((m) => m.lostnet) && { lostnet: true }),
          } satisfies EndpointTask,
        }),
        log: logTo,
        onMessage: (message) => {
          if (message.type === 'log') logTo(message.text);
          else if (message.type === 'status') {
            unit.status = message.status;
            each((m) => m.options.onStatus?.());
          } else if (message.text === null) {
            unit.conditions.delete(message.kind);
            each((m) => m.options.gate.clear(DAEMON, kind(message.kind)));
          } else {
            const text = message.text;
            unit.conditions.set(message.kind, { text, retriedOnResume: message.retriedOnResume === true });
            each((m) => m.options.gate.raise(DAEMON, kind(message.kind), `${name} endpoint: ${text}`));
          }
        },
        onStarted: () => {
          // (Re)started: "failed; restarting in N s" is over, and what the last run said held then;
          // the new run says what holds now (a new failure says it again).
          unit.conditions.clear();
          each((m) => m.options.gate.forgetWhere((remote, k) => remote === DAEMON && k.startsWith(kind('')) && k !== kind(TAKEN) && k !== kind(OWN)));
          // Started after its remotes (by RELOAD, a config change, RESUME) or restarted: it knows
          // no remote; link every one of every repository it serves, with fresh channels.
          unit.linked.clear();
          unit.noticeLinked.clear();
          each((m) => this.linkMember(unit, m));
        },
        onEnded: (err, restartInMs) => {
          if (restartInMs === undefined) return;
          const text = `the ${name} endpoint failed (${err?.message}); restarting in ${(restartInMs / 1000).toFixed(1)} s`;
          each((m) => m.options.gate.raise(DAEMON, kind('crash'), text));
        },
      }),
    };
    this.units.set(id, unit);
    return unit;
  }

  /** Starts the thread, once the previous one of its identity has ended. */
  private launch(unit: Unit): void {
    const go = () => {
      if (this.units.get(unit.id) !== unit || unit.members.length === 0 || unit.unit.isStopping || unit.launched) return;
      unit.launched = true;
      unit.unit.start();
    };
    // Two of them at once would fight over a port (the webhook's) or an identity (a peer key).
    const ending = this.ending.get(unit.id);
    if (ending) void ending.then(go);
    else go();
  }

  private async stopUnit(unit: Unit): Promise<void> {
    if (this.units.get(unit.id) === unit) this.units.delete(unit.id);
    const ending = unit.unit.stop({ type: 'stop' } satisfies ToEndpoint);
    this.ending.set(unit.id, ending);
    await ending;
    if (this.ending.get(unit.id) === ending) this.ending.delete(unit.id);
  }
}

/** Why a repository gets no part in the endpoint `holder`'s repository runs. */
function refusal(wanted: Wanted, holder: { member: Member; wanted: Wanted }): string {
  const identity = wanted.identity!;
  const other = holder.member.options.repo.cwd;
  if (!identity.shared) return `${identity.describe} is already used in this daemon by ${other} (${identity.unshared ?? 'it cannot be shared'}); off for this repository`;
  const differ = [...new Set([...Object.keys(wanted.settings), ...Object.keys(holder.wanted.settings)])].filter(
    (k) => JSON.stringify(wanted.settings[k]) !== JSON.stringify(holder.wanted.settings[k]),
  );
  return `${identity.describe} is already used in this daemon by ${other} with a different ${differ.join(', ')}; off for this repository until its settings match (one endpoint serves every repository that asks for it with the same settings)`;
}

function attach(unit: Unit, remote: string, url: string, notices = false, own?: Own): MessagePort {
  const channel = new MessageChannel();
  unit.unit.post({ type: 'attach', remote, url, port: channel.port1, ...(notices && { notices }), ...(own && { own: own.values }) } satisfies ToEndpoint, [channel.port1]);
  return channel.port2;
}

/**
 * One repository's endpoints: the part of the process's endpoint threads its config asks for
 * (a host of its own when it has none to share), linked to its remotes.
 */
export class Endpoints {
  private readonly host: EndpointHost;
  private readonly member: Member;

  constructor(options: EndpointsOptions) {
    this.host = options.host ?? new EndpointHost({ pool: options.pool, restartBackoff: options.restartBackoff });
    this.member = this.host.join(options);
  }

  /** Starts, updates or stops each endpoint as the config asks; returns config problems. */
  configure(owners: readonly EndpointOwner[], config: GitConfig): string[] {
    return this.host.configure(this.member, owners, config);
  }

  /**
   * Links a remote of `transport` to its endpoint; the remote's end of the channel, or none. The
   * remote is remembered either way: an endpoint started later links it then.
   */
  link(transport: string, remote: string, url: string): MessagePort | undefined {
    return this.host.link(this.member, transport, remote, url);
  }

  /** Links a remote to every notice carrier that runs; the remote's ends of the channels. */
  linkNotices(remote: string, url: string): { carrier: string; port: MessagePort }[] {
    return this.host.linkNotices(this.member, remote, url);
  }

  unlink(transport: string, remote: string): void {
    this.host.unlink(this.member, transport, remote);
  }

  /**
   * The controller's PAUSE, LOSTNET, RESUME or RELOAD. PAUSE takes this repository out of every
   * endpoint (an endpoint no other repository uses stops: nothing of it stays on the network)
   * until RESUME puts it back; the others are passed on to the endpoints, which follow them as
   * their network use asks (LOSTNET once every repository of the endpoint lost the network).
   * LOSTNET after PAUSE starts nothing: only RESUME does.
   */
  control(what: 'pause' | 'lostnet' | 'resume' | 'reload'): void {
    this.host.control(this.member, what);
  }

  /** CHANGED: endpoints that offer refs to others (peers) hear it even with no remote of theirs. */
  changed(refs: string[]): void {
    this.host.changed(this.member, refs);
  }

  /**
   * RESUME made the gate forget what it said: every endpoint condition that still holds is said
   * again (status keeps showing it; an endpoint says a condition only when it changes), except
   * those that RESUME makes the endpoint try again: saying now what held before the retry would
   * tell the user who just fixed it that it still fails.
   */
  resay(): void {
    this.host.resay(this.member);
  }

  status(): ({ name: string } & EndpointStatus)[] {
    return this.host.status(this.member);
  }

  async stop(): Promise<void> {
    await this.host.leave(this.member);
  }
}
