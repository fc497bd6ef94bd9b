/**
 * The XP SP2 limit enforced on real traffic (`watch --enforce N`): at most N
 * outbound connect attempts in flight per scope; the first SYN of every
 * further one is held, in a FIFO, and released when a slot frees or at a
 * fixed rate. The policies are the simulator's own gates (sim/gate.ts: "xp"
 * and "xp-rate", one gate per scope), so a real run and a simulated one mean
 * the same thing. Pure: packets, attempts and time are given; verdicts go
 * out through a callback.
 *
 *   SYN held by the kernel (NFQUEUE) ── packet() ──► gate.request ── start() ──► verdict accept
 *   attempt seen by the monitor ──────── started() ─► who it is (scope, trust, containment)
 *   attempt left SYN_SENT ────────────── ended() ───► gate.finish (slot free) or, if still
 *                                                      held, gate.cancel + verdict drop
 *
 * An attempt is one 4-tuple: a SYN whose 4-tuple is already released is a
 * retransmission (accepted at once); one already held is a resend of a held
 * attempt (dropped: the held one goes when its turn comes). The packet and
 * the monitor's event for the same attempt come through different channels,
 * in either order: a packet waits up to `attributionWaitMs` for its process
 * only when the scope needs one (unit, container, process); an attempt that
 * ended before its packet was read leaves a tombstone so the late packet
 * takes no slot. Trusted programs and halfopen itself take no slot: a held
 * attempt that turns out to be theirs is let go at once, a released one gives
 * its slot back.
 */
import type { Attempt } from "../attempt.js";
import { processKeyOf } from "../attempt.js";
import type { Detector, DetectorContext } from "../detector.js";
import type { ProcessInfo } from "../events.js";
import { type Gate, type GateClock, type GateTicket, makeGate } from "../sim/gate.js";

import type { EnforceScope } from "./scope.js";
import type { EnforceCounters, EnforceFinding, HeldSummary } from "./types.js";

export type { ContainFinding, EnforceCounters, EnforceFinding, EnforceStart, EnforceStop, HeldSummary, HoldFinding } from "./types.js";

/** An outbound SYN the kernel holds until our verdict. */
export interface HeldSyn {
  id: number;
  saddr: string;
  sport: number;
  daddr: string;
  dport: number;
  /** The sending socket's owner (NFQUEUE gives it). */
  uid?: number;
}

export interface EnforcerOptions {
  /** Attempts in flight per scope. */
  limit: number;
  per: EnforceScope;
  /** Release held attempts at this fixed rate ("xp-rate") instead of when a slot frees ("xp"). */
  releasePerSecond?: number;
  clock: GateClock;
  /** Let the packet go (true) or drop it (false). Called synchronously; the wiring batches. */
  verdict: (id: number, accept: boolean) => void;
  /** Programs that are never held (--trust). */
  trusted?: (p: ProcessInfo) => boolean;
  /** halfopen's own pid: its connects are never held. */
  selfPid?: number;
  /** Hold nothing: every SYN goes at once, and the gates count what they would have held. */
  dryRun?: boolean;
  /** A process judged a scanner gets this limit of its own (--contain-scanners). */
  containLimit?: number;
  /** How long a packet waits for the monitor to say whose it is, when the scope needs it. Default 100 ms. */
  attributionWaitMs?: number;
  /** A released attempt whose end is never seen gives its slot back after this. Default 130 s (Linux gives up a connect after 127 s). */
  maxSlotMs?: number;
  /**
   * Whether an attempt's SYN should come through the queue (its network
   * namespace is the enforced one; not loopback unless that is held too).
   * One that should but never does within UNQUEUED_MS went unheld: counted.
   */
  holdable?: (attempt: Attempt) => boolean;
  /** Keep each wait for takeWaits() (the metrics' histogram). */
  keepWaits?: boolean;
}

type EntryState = "pending" | "queued" | "released";

interface Entry {
  tuple: string;
  id: number;
  state: EntryState;
  arrivedAt: number;
  uid?: number;
  daddr: string;
  process?: ProcessInfo;
  processKey?: string;
  attempt?: Attempt;
  gate?: Gate;
  scope?: string;
  ticket?: GateTicket;
  timer?: unknown;
  /** Held at least once (the gate did not start it at once). */
  wasHeld: boolean;
  /** The per-process record its hold was counted in (a uid's until the process is known). */
  heldKey?: string;
  /** Already let go by the queue's own thread, within the free slots granted to it (fastFree). */
  preAccepted?: boolean;
  releasedAt?: number;
}

interface ProcessHeld {
  pid?: number;
  name?: string;
  held: number;
  waits: number[];
  maxWaitMs: number;
  abandoned: number;
}

/** Waits kept per process for the median; past this, every other one is kept (a bounded sample). */
const MAX_WAITS = 4096;
const TOMBSTONE_MS = 5000;
const MAX_WAITS_OUT = 100_000;
/** How often the join lists are swept and slots whose end was never seen are looked for. */
const SWEEP_MS = 1000;
/** An attempt the monitor saw whose SYN did not come through the queue in this long after it started went unheld. */
const UNQUEUED_MS = 1000;

/** The 4-tuple as both channels spell it. */
export function tupleKey(saddr: string, sport: number, daddr: string, dport: number): string {
  return `${saddr}|${sport}|${daddr}|${dport}`;
}

export class Enforcer implements Detector<EnforceFinding> {
  readonly name = "enforce";
  readonly options: Readonly<EnforcerOptions>;
  readonly counters: EnforceCounters = { syns: 0, held: 0, holding: 0, inFlight: 0, maxInFlight: 0, deduplicated: 0, retransmissions: 0, abandoned: 0, exempt: 0, expired: 0, holdEpisodes: 0, contained: 0, unqueued: 0, unholdable: 0, overGranted: 0 };
  readonly #entries = new Map<string, Entry>();
  /** Entries by the attempt they were joined to (an attempt's source port may be unknown when it starts). */
  readonly #byAttempt = new Map<number, Entry>();
  /** Entries not yet joined to an attempt, per destination, oldest first (lazily cleaned). */
  readonly #unjoined = new Map<string, Entry[]>();
  /** Attempts the monitor reported before their SYN was read, in report order: attempt id -> attempt. */
  readonly #seen = new Map<number, { attempt: Attempt; at: number; dest: string }>();
  /** The same, per destination, oldest first (lazily cleaned). */
  readonly #seenByDest = new Map<string, number[]>();
  /** Attempts that ended before their SYN was read: tuple -> when, when the attempt started, and whether its SYN was due through the queue. */
  readonly #ended = new Map<string, { at: number; startedAt: number; due: boolean }>();
  /** Every SYN queued before this (the source's clock) has been read from the queue. */
  #queueReadAt = Number.NEGATIVE_INFINITY;
  readonly #gates = new Map<string, Gate>();
  readonly #held = new Map<string, ProcessHeld>();
  readonly #contained = new Set<string>();
  /** Wait of each held attempt once released or given up, for the metrics' histogram (kept only with `keepWaits`, taken at each scrape, at most MAX_WAITS_OUT). */
  readonly #waitsOut: number[] = [];
  /** Waits not kept because MAX_WAITS_OUT were waiting to be taken. */
  waitsDropped = 0;
  #findings: EnforceFinding[] = [];
  #lastSweep = Number.NEGATIVE_INFINITY;
  /** Slots freed in the current batch of events, handed on at its end (tick). */
  #freed: { e: Entry; answered: boolean }[] = [];

  constructor(options: EnforcerOptions) {
    if (!(Number.isInteger(options.limit) && options.limit >= 1)) throw new RangeError(`Cannot enforce a limit of ${options.limit}: expected a whole number of at least 1`);
    if (options.containLimit !== undefined && !(Number.isInteger(options.containLimit) && options.containLimit >= 1)) throw new RangeError(`Cannot contain scanners to ${options.containLimit}: expected a whole number of at least 1`);
    this.options = options;
  }

  /**
   * A SYN the kernel holds, or (`preAccepted`) one the queue's own thread
   * already let go within the free slots it was granted (fastFree()): it is
   * only counted. Findings (a hold episode) are returned.
   */
  packet(p: HeldSyn, preAccepted = false): EnforceFinding[] {
    const verdict = (accept: boolean) => {
      if (!preAccepted) this.#verdict(p.id, accept);
    };
    const tuple = tupleKey(p.saddr, p.sport, p.daddr, p.dport);
    const e = this.#entries.get(tuple);
    if (e) {
      if (e.state === "released") {
        this.counters.retransmissions++;
        verdict(true);
      } else {
        this.counters.deduplicated++;
        verdict(this.options.dryRun === true);
      }
      return this.#take();
    }
    const now = this.options.clock.now();
    if (this.#ended.delete(tuple)) {
      // Its socket is gone: the SYN would be answered by a RST from here; it takes no slot.
      verdict(true);
      return this.#take();
    }
    this.counters.syns++;
    const dest = destKey(p.daddr, p.dport);
    const seen = this.#takeSeen(dest, tuple);
    if (seen && this.#exempt(seen.process)) {
      this.counters.exempt++;
      verdict(true);
      return this.#take();
    }
    const entry: Entry = { tuple, id: p.id, state: "pending", arrivedAt: now, daddr: p.daddr, wasHeld: false, ...(p.uid === undefined ? {} : { uid: p.uid }), ...(preAccepted ? { preAccepted } : {}) };
    this.#entries.set(tuple, entry);
    if (this.options.dryRun) this.#verdict(p.id, true);
    if (seen) this.#attribute(entry, seen);
    else push(this.#unjoined, dest, entry);
    if (seen || !this.#needsProcess()) this.#request(entry);
    else entry.timer = this.options.clock.setTimer(() => this.#request(entry), this.options.attributionWaitMs ?? 100);
    if (preAccepted && entry.state !== "released") {
      // Let go already, but the gate had no room (cannot happen while the grant follows fastFree): in flight outside the gate.
      if (entry.state === "queued") {
        entry.gate?.cancel(entry.ticket as GateTicket);
        this.counters.holding--;
        this.counters.held--;
        const h = this.#heldOf(entry);
        if (h) h.held--;
      }
      if (entry.timer !== undefined) this.options.clock.clearTimer(entry.timer);
      entry.gate = undefined;
      entry.ticket = undefined;
      entry.wasHeld = false;
      this.counters.overGranted++;
      this.#release(entry);
    }
    return this.#take();
  }

  /**
   * How many more SYNs the queue's own thread may let go without asking:
   * the free slots while nothing is held, for the host-wide limit only (the
   * other scopes and containment must know whose a SYN is first); 0 in a dry run.
   */
  fastFree(): number {
    const o = this.options;
    if (o.per !== "host" || o.containLimit !== undefined || o.dryRun || this.counters.holding > 0) return 0;
    return Math.max(0, o.limit - this.counters.inFlight);
  }

  /**
   * The monitor saw an attempt start. Joined to its held SYN by 4-tuple when
   * its source port is known (raw senders), else to the oldest unjoined SYN
   * to the same destination: connect() enters SYN_SENT before it picks the
   * source port, so the port is only known when the attempt ends. Two
   * attempts to one destination at the same moment may be joined crosswise;
   * both are then still counted once each.
   */
  started(attempt: Attempt, ctx: DetectorContext): EnforceFinding[] {
    this.#containIfScanner(attempt, ctx);
    const dest = destKey(attempt.dst.address, attempt.dst.port);
    const e = attempt.src.port !== 0 ? this.#entries.get(tupleKey(attempt.src.address, attempt.src.port, attempt.dst.address, attempt.dst.port)) : this.#takeUnjoined(dest);
    if (!e || e.attempt) {
      if (attempt.via === "packet") this.counters.unholdable++;
      else if (this.options.holdable?.(attempt) !== false) {
        this.#seen.set(attempt.id, { attempt, at: this.options.clock.now(), dest });
        push(this.#seenByDest, dest, attempt.id);
      }
      return this.#take();
    }
    this.#attribute(e, attempt);
    if (this.#exempt(attempt.process)) {
      this.counters.exempt++;
      this.#letGo(e);
      return this.#take();
    }
    if (e.state === "pending") {
      if (e.timer !== undefined) this.options.clock.clearTimer(e.timer);
      this.#request(e);
    }
    return this.#take();
  }

  ended(attempt: Attempt): EnforceFinding[] {
    const tuple = tupleKey(attempt.src.address, attempt.src.port, attempt.dst.address, attempt.dst.port);
    const due = this.#seen.delete(attempt.id) && !this.#exempt(attempt.process);
    // The 4-tuple is the truth once the attempt ends (its source port is known then); the join is the fallback.
    const e = (attempt.src.port !== 0 ? this.#entries.get(tuple) : undefined) ?? this.#byAttempt.get(attempt.id);
    if (!e) {
      this.#ended.set(tuple, { at: this.options.clock.now(), startedAt: attempt.startedAt, due });
      return this.#take();
    }
    this.#forget(e);
    const now = this.options.clock.now();
    if (e.state === "released") {
      this.#slotFreed(e, attempt.outcome === "established" || attempt.outcome === "refused");
    } else {
      // The program gave up while its SYN was held: the SYN leaves the queue.
      if (e.timer !== undefined) this.options.clock.clearTimer(e.timer);
      if (e.state === "queued") {
        this.counters.holding--;
        e.gate?.cancel(e.ticket as GateTicket);
      }
      this.counters.abandoned++;
      const h = this.#heldOf(e);
      if (h) {
        h.abandoned++;
        this.#recordWait(h, now - e.arrivedAt);
      }
      attempt.heldMs = now - e.arrivedAt;
      if (!this.options.dryRun) this.#verdict(e.id, false);
    }
    return this.#take();
  }

  tick(now: number): EnforceFinding[] {
    this.#finishFreed();
    // An attempt's SYN is overdue once the queue has been read UNQUEUED_MS past its start (however late this thread
    // reads it), or, with a queue nothing came through, TOMBSTONE_MS after it was seen here.
    const overdue = (startedAt: number, seenAt: number) => this.#queueReadAt - startedAt > UNQUEUED_MS || now - seenAt > TOMBSTONE_MS;
    // Both maps are in the order attempts were seen, so the scans stop at the first one that stays.
    for (const [t, x] of this.#ended) {
      if (now - x.at <= TOMBSTONE_MS && !(x.due && overdue(x.startedAt, x.at))) break;
      this.#ended.delete(t);
      // Ended, and its SYN never came through the queue: it went unheld.
      if (x.due) this.counters.unqueued++;
    }
    for (const [id, s] of this.#seen) {
      if (!overdue(s.attempt.startedAt, s.at)) break;
      this.#seen.delete(id);
      if (!this.#exempt(s.attempt.process)) this.counters.unqueued++;
    }
    // The sweeps below walk every destination and entry: once a second, not after every batch of events.
    if (now - this.#lastSweep >= SWEEP_MS) {
      this.#lastSweep = now;
      this.#sweep(now);
    }
    this.#finishFreed();
    return this.#take();
  }

  /** Drop the lazily kept leftovers of the join lists; free slots whose end was never seen. */
  #sweep(now: number): void {
    for (const [dest, ids] of this.#seenByDest) {
      const live = ids.filter((id) => this.#seen.has(id));
      if (live.length === 0) this.#seenByDest.delete(dest);
      else if (live.length < ids.length) this.#seenByDest.set(dest, live);
    }
    for (const [dest, list] of this.#unjoined) {
      const live = list.filter((e) => !e.attempt && this.#entries.get(e.tuple) === e);
      if (live.length === 0) this.#unjoined.delete(dest);
      else if (live.length < list.length) this.#unjoined.set(dest, live);
    }
    const max = this.options.maxSlotMs ?? 130_000;
    for (const e of this.#entries.values()) {
      if (e.state === "released" && e.releasedAt !== undefined && now - e.releasedAt > max) {
        this.#forget(e);
        this.counters.expired++;
        this.#slotFreed(e, false);
      }
    }
  }

  /** Every SYN queued before `time` (the source's clock) has been read from the queue: a later one's absence means something. */
  queueReadAt(time: number): void {
    if (time > this.#queueReadAt) this.#queueReadAt = time;
  }

  /** What was held of this process so far (incidents list it beside the process). */
  heldOf(processKey: string): HeldSummary | undefined {
    const h = this.#held.get(processKey);
    const contained = this.#contained.has(processKey) ? { contained: { limit: this.options.containLimit as number } } : {};
    if (!h) return this.#contained.has(processKey) ? { held: 0, medianWaitMs: 0, maxWaitMs: 0, abandoned: 0, ...contained } : undefined;
    return { held: h.held, medianWaitMs: median(h.waits), maxWaitMs: h.maxWaitMs, abandoned: h.abandoned, ...contained };
  }

  /** Every process (or uid, while its process was never known) something was held of, most held first. */
  heldProcesses(): ({ processKey: string; pid?: number; name?: string } & HeldSummary)[] {
    return [...this.#held.entries()]
      .filter(([, h]) => h.held > 0 || h.abandoned > 0)
      .map(([k, h]) => ({ processKey: k, ...(h.pid === undefined ? {} : { pid: h.pid }), ...(h.name === undefined ? {} : { name: h.name }), ...(this.heldOf(k) as HeldSummary) }))
      .sort((a, b) => b.held - a.held);
  }

  /** Waits (ms) of held attempts released or abandoned since the last call. */
  takeWaits(): number[] {
    return this.#waitsOut.splice(0);
  }

  /** Give up: every held SYN goes now (the run is ending; nothing is lost). */
  releaseAll(): void {
    for (const e of this.#entries.values()) {
      if (e.timer !== undefined) this.options.clock.clearTimer(e.timer);
      if (e.state !== "released" && !this.options.dryRun && !e.preAccepted) this.#verdict(e.id, true);
    }
    this.#entries.clear();
    this.#byAttempt.clear();
    this.#unjoined.clear();
    this.counters.holding = 0;
  }

  /** The attempt reported for this SYN: by 4-tuple, else the oldest one to its destination. */
  #takeSeen(dest: string, tuple: string): Attempt | undefined {
    const ids = this.#seenByDest.get(dest);
    if (!ids) return undefined;
    let pick = -1;
    for (let i = 0; i < ids.length; i++) {
      const s = this.#seen.get(ids[i] as number);
      if (!s) continue;
      const a = s.attempt;
      if (a.src.port !== 0 && tupleKey(a.src.address, a.src.port, a.dst.address, a.dst.port) !== tuple) continue;
      pick = i;
      break;
    }
    if (pick < 0) return undefined;
    const id = ids[pick] as number;
    ids.splice(pick, 1);
    if (ids.length === 0) this.#seenByDest.delete(dest);
    const s = this.#seen.get(id);
    this.#seen.delete(id);
    return s?.attempt;
  }

  /** The oldest SYN to this destination not yet joined to an attempt. */
  #takeUnjoined(dest: string): Entry | undefined {
    const list = this.#unjoined.get(dest);
    if (!list) return undefined;
    let e: Entry | undefined;
    while ((e = list.shift()) !== undefined) {
      if (!e.attempt && this.#entries.get(e.tuple) === e) break;
    }
    if (list.length === 0) this.#unjoined.delete(dest);
    return e;
  }

  #forget(e: Entry): void {
    if (this.#entries.get(e.tuple) === e) this.#entries.delete(e.tuple);
    if (e.attempt && this.#byAttempt.get(e.attempt.id) === e) this.#byAttempt.delete(e.attempt.id);
  }

  #needsProcess(): boolean {
    const per = this.options.per;
    return per === "unit" || per === "container" || per === "process" || this.options.containLimit !== undefined;
  }

  #exempt(p: ProcessInfo): boolean {
    return p.pid === this.options.selfPid || this.options.trusted?.(p) === true;
  }

  #attribute(e: Entry, attempt: Attempt): void {
    e.attempt = attempt;
    this.#byAttempt.set(attempt.id, e);
    e.process = attempt.process;
    e.processKey = attempt.processKey;
    if (e.wasHeld && e.heldKey !== undefined && e.heldKey !== attempt.processKey) {
      // Counted under its uid while the process was unknown: move it to the process.
      const old = this.#held.get(e.heldKey);
      if (old) {
        old.held--;
        if (old.held === 0 && old.abandoned === 0) this.#held.delete(e.heldKey);
      }
      e.heldKey = undefined;
      const h = this.#heldOf(e, true);
      if (h) h.held++;
    }
  }

  /** The scope an attempt counts in: a contained process's own, else by `per`. */
  #scopeOf(e: Entry): { key: string; limit: number } {
    if (e.processKey !== undefined && this.#contained.has(e.processKey)) return { key: `contained:${e.processKey}`, limit: this.options.containLimit as number };
    const p = e.process;
    const limit = this.options.limit;
    switch (this.options.per) {
      case "host":
        return { key: "host", limit };
      case "uid":
        return { key: `uid:${e.uid ?? p?.uid ?? "?"}`, limit };
      case "unit":
        return { key: `unit:${p?.unit ?? "?"}`, limit };
      case "container":
        return { key: `container:${p?.container ? `${p.container.runtime} ${p.container.shortId}` : "(host)"}`, limit };
      case "process":
        return { key: `process:${e.processKey ?? "?"}`, limit };
    }
  }

  #gate(scope: { key: string; limit: number }): Gate {
    let g = this.#gates.get(scope.key);
    if (!g) {
      const rate = this.options.releasePerSecond;
      g = makeGate(rate === undefined ? { kind: "xp", limit: scope.limit } : { kind: "xp-rate", limit: scope.limit, releasePerSecond: rate }, this.options.clock);
      this.#gates.set(scope.key, g);
    }
    return g;
  }

  #request(e: Entry): void {
    e.timer = undefined;
    const scope = this.#scopeOf(e);
    const gate = this.#gate(scope);
    const before = gate.stats().limitEvents;
    e.scope = scope.key;
    e.gate = gate;
    e.state = "queued";
    e.ticket = gate.request({ process: scope.key, destination: e.daddr, start: () => this.#release(e) });
    if (e.state === "queued") {
      e.wasHeld = true;
      this.counters.held++;
      this.counters.holding++;
      const h = this.#heldOf(e, true);
      if (h) h.held++;
      if (gate.stats().limitEvents > before) {
        this.counters.holdEpisodes++;
        this.#findings.push({
          type: "enforce-hold",
          time: this.options.clock.now(),
          scope: scope.key,
          limit: scope.limit,
          ...(e.process ? { pid: e.process.pid, name: e.process.name } : {}),
          dryRun: this.options.dryRun === true,
        });
      }
    }
  }

  #release(e: Entry): void {
    if (e.state === "released") return;
    const wasQueued = e.state === "queued" && e.wasHeld;
    e.state = "released";
    const now = this.options.clock.now();
    e.releasedAt = now;
    this.counters.inFlight++;
    if (this.counters.inFlight > this.counters.maxInFlight) this.counters.maxInFlight = this.counters.inFlight;
    if (wasQueued) {
      this.counters.holding--;
      const wait = now - e.arrivedAt;
      if (e.attempt) e.attempt.heldMs = wait;
      const h = this.#heldOf(e);
      if (h) this.#recordWait(h, wait);
      else this.#waitOut(wait);
    }
    if (!this.options.dryRun && !e.preAccepted) this.#verdict(e.id, true);
  }

  /** A trusted or own attempt: never held, holds no slot. */
  #letGo(e: Entry): void {
    this.#forget(e);
    if (e.timer !== undefined) this.options.clock.clearTimer(e.timer);
    if (e.state === "released") {
      this.#slotFreed(e, false);
      return;
    }
    if (e.state === "queued") {
      this.counters.holding--;
      e.gate?.cancel(e.ticket as GateTicket);
      if (e.wasHeld) {
        this.counters.held--;
        const h = this.#heldOf(e);
        if (h) h.held--;
      }
    }
    if (!this.options.dryRun && !e.preAccepted) this.#verdict(e.id, true);
  }

  /**
   * A released attempt ended: its slot goes to the next held one once the
   * batch of events it came in is done (tick), so a held attempt whose
   * program gave up in the same moment (its end later in the batch) leaves
   * the queue instead of taking the slot.
   */
  #slotFreed(e: Entry, answered: boolean): void {
    this.#freed.push({ e, answered });
  }

  #finishFreed(): void {
    for (const { e, answered } of this.#freed.splice(0)) {
      this.counters.inFlight--;
      if (e.ticket) e.gate?.finish(e.ticket, answered);
    }
  }

  /** The per-process record of a held attempt (created when `create`); undefined while the process is unknown. */
  #heldOf(e: Entry, create = false): ProcessHeld | undefined {
    const key = e.heldKey ?? e.processKey ?? (e.uid === undefined ? "?" : `uid:${e.uid}`);
    let h = this.#held.get(key);
    if (!h && create) {
      this.#held.set(key, (h = { held: 0, waits: [], maxWaitMs: 0, abandoned: 0, ...(e.process ? { pid: e.process.pid, name: e.process.name } : {}) }));
    }
    if (create) e.heldKey = key;
    return h;
  }

  #recordWait(h: ProcessHeld, wait: number): void {
    this.#waitOut(wait);
    if (wait > h.maxWaitMs) h.maxWaitMs = wait;
    if (h.waits.length < MAX_WAITS) h.waits.push(wait);
    else h.waits[(h.held * 7919) % MAX_WAITS] = wait;
  }

  #waitOut(wait: number): void {
    if (!this.options.keepWaits) return;
    if (this.#waitsOut.length < MAX_WAITS_OUT) this.#waitsOut.push(wait);
    else this.waitsDropped++;
  }

  #containIfScanner(attempt: Attempt, ctx: DetectorContext): void {
    const limit = this.options.containLimit;
    if (limit === undefined || this.#contained.has(attempt.processKey)) return;
    const v = ctx.verdictOf(attempt.processKey);
    if (v?.verdict !== "scanner" || this.#exempt(attempt.process)) return;
    this.#contained.add(attempt.processKey);
    this.counters.contained++;
    this.#findings.push({ type: "contained", time: this.options.clock.now(), pid: attempt.process.pid, name: attempt.process.name, processKey: processKeyOf(attempt.process), limit });
  }

  #verdict(id: number, accept: boolean): void {
    this.options.verdict(id, accept);
  }

  #take(): EnforceFinding[] {
    if (this.#findings.length === 0) return [];
    const f = this.#findings;
    this.#findings = [];
    return f;
  }
}

/** A destination as both channels spell it. */
function destKey(daddr: string, dport: number): string {
  return `${daddr}|${dport}`;
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

function median(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}
