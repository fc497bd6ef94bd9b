/**
 * SynSentTracker: the live table of half-open (SYN_SENT) attempts, host-wide
 * and per process, fed by the neutral event stream. Pure.
 *
 * Invariants:
 *   - an attempt is in the by-slot or the by-sock table exactly while its
 *     outcome is "pending", and `pending()` lists those, oldest first;
 *   - `halfOpen` equals their number, and the per-process counts sum to it;
 *   - every attempt ends exactly once (leave, superseded by a new connect on
 *     the same socket, or expired after `maxAgeMs` with no end event).
 * Events for sockets it never saw start (started before we did, or lost) are
 * counted in `unmatched` and otherwise ignored.
 */
import { type Attempt, type Outcome, outcomeOnLeave, processKeyOf } from "./attempt.js";
import type { ConnectEvent, LeaveEvent } from "./events.js";
import { RecentMap } from "./recent-map.js";

export interface SynSentTrackerOptions {
  /**
   * An attempt with no end event after this long is ended as "unknown".
   * Default 300000 ms: with net.ipv4.tcp_syn_retries = 6 a silent attempt
   * lasts about 127 s, so a pending attempt older than that lost its end event.
   */
  maxAgeMs?: number;
}

/** Per-process live counts. */
export interface ProcessHalfOpen {
  processKey: string;
  pid: number;
  halfOpen: number;
}

/** Slots above this are not believed (a replayed recording may hold anything): such events are found by `sock`. */
const MAX_SLOT = 1 << 24;

function slotOf(slot: number | undefined): number | undefined {
  return slot !== undefined && Number.isInteger(slot) && slot >= 0 && slot < MAX_SLOT ? slot : undefined;
}

export class SynSentTracker {
  readonly maxAgeMs: number;
  /** Pending attempts started without a slot, by sock. */
  readonly #bySock = new Map<string, Attempt>();
  /** Pending attempts started with a slot (ConnectEvent.slot), by slot: an array index, no hashing. */
  readonly #bySlot: (Attempt | undefined)[] = [];
  /**
   * Attempts in start order from #head: the pending ones, and ended ones not yet dropped (skipped; the array is
   * compacted once they are half of it, so it stays within twice the pending count).
   */
  #order: Attempt[] = [];
  #head = 0;
  #endedInOrder = 0;
  #halfOpen = 0;
  /** Per process key, its count (an object changed in place: no lookup for the last process seen). */
  readonly #perProcess = new RecentMap<string, { processKey: string; halfOpen: number }>();
  #nextId = 1;
  /** End events whose socket was not being tracked. */
  unmatched = 0;

  constructor(options: SynSentTrackerOptions = {}) {
    this.maxAgeMs = options.maxAgeMs ?? 300_000;
  }

  /** Host-wide number of attempts in SYN_SENT now. */
  get halfOpen(): number {
    return this.#halfOpen;
  }

  /** Attempts in SYN_SENT now, oldest first. */
  *pending(): IterableIterator<Attempt> {
    const order = this.#order;
    for (let i = this.#head; i < order.length; i++) {
      const a = order[i] as Attempt;
      if (a.outcome === "pending") yield a;
    }
  }

  /** Half-open count of one process (by process key). */
  halfOpenOf(processKey: string): number {
    return this.#perProcess.get(processKey)?.halfOpen ?? 0;
  }

  /** Per-process half-open counts, largest first. */
  perProcess(): ProcessHalfOpen[] {
    const rows: ProcessHalfOpen[] = [];
    for (const { processKey, halfOpen } of this.#perProcess.values()) {
      rows.push({ processKey, pid: Number.parseInt(processKey, 10), halfOpen });
    }
    return rows.sort((a, b) => b.halfOpen - a.halfOpen || a.pid - b.pid);
  }

  /** The pending attempt of a socket: by its slot when the event has one (and it holds that sock), else by sock. */
  #find(sock: string, slot: number | undefined): Attempt | undefined {
    const s = slotOf(slot);
    if (s !== undefined) {
      const a = this.#bySlot[s];
      if (a !== undefined && a.sock === sock) return a;
    }
    return this.#bySock.size > 0 ? this.#bySock.get(sock) : undefined;
  }

  /**
   * Start an attempt. If the socket already had a pending attempt (its end
   * event was lost), that one is ended as "unknown" and returned in `ended`.
   */
  connect(e: ConnectEvent): { attempt: Attempt; ended?: Attempt } {
    const attempt = this.start(e);
    const ended = this.superseded;
    return ended ? { attempt, ended } : { attempt };
  }

  /**
   * The attempt a `start` ended because its socket connected again (its end event was lost; ended "unknown"), if
   * any; set by each `start`.
   */
  superseded: Attempt | undefined;

  /** `connect` without a result object (the hot path): the ended attempt, if any, is in `superseded`. */
  start(e: ConnectEvent): Attempt {
    const previous = this.#find(e.sock, e.slot);
    this.superseded = previous ? this.#end(previous, "unknown", e.time) : undefined;
    const slot = slotOf(e.slot);
    // The fields every attempt gets (slot and endedAt too, undefined until set) in the literal: setting them later is
    // a store, not a new hidden class and a property array per attempt. The rare ones are added when set.
    const attempt: Attempt = {
      id: this.#nextId++,
      sock: e.sock,
      slot,
      process: e.process,
      processKey: processKeyOf(e.process),
      family: e.family,
      // The event's own endpoints (a source makes them per event): never changed in place (leave replaces src).
      src: e.src,
      dst: e.dst,
      startedAt: e.time,
      endedAt: undefined,
      outcome: "pending",
      retransmits: 0,
      reset: false,
    };
    if (e.seenAtStart) attempt.seenAtStart = true;
    if (e.via) attempt.via = e.via;
    if (slot === undefined) this.#bySock.set(e.sock, attempt);
    else {
      // Another socket's attempt in this slot (a source that reused it too soon) stays findable by its sock.
      const other = this.#bySlot[slot];
      if (other !== undefined) this.#bySock.set(other.sock, other);
      this.#bySlot[slot] = attempt;
    }
    this.#order.push(attempt);
    this.#halfOpen++;
    const count = this.#perProcess.get(attempt.processKey);
    if (count) count.halfOpen++;
    else this.#perProcess.set(attempt.processKey, { processKey: attempt.processKey, halfOpen: 1 });
    return attempt;
  }

  /** The socket left SYN_SENT; returns the ended attempt, or undefined if it was not tracked. */
  leave(e: LeaveEvent): Attempt | undefined {
    const attempt = this.#find(e.sock, e.slot);
    if (!attempt) {
      this.unmatched++;
      return undefined;
    }
    if (e.srcPort && e.srcPort !== attempt.src.port) attempt.src = { address: attempt.src.address, port: e.srcPort };
    return this.#end(attempt, e.vanished ? "unknown" : outcomeOnLeave(attempt, e.newState, e.inInterrupt), e.time);
  }

  /** This host dropped the socket's SYN. */
  dropped(sock: string, reason: string, slot?: number): void {
    const attempt = this.#find(sock, slot);
    if (attempt) attempt.dropReason = reason;
  }

  /** A RST arrived for the socket. */
  reset(sock: string, slot?: number): void {
    const attempt = this.#find(sock, slot);
    if (attempt) attempt.reset = true;
  }

  /** The SYN was retransmitted; returns the pending attempt, if any. */
  retransmit(sock: string, slot?: number): Attempt | undefined {
    const attempt = this.#find(sock, slot);
    if (attempt) attempt.retransmits++;
    return attempt;
  }

  /** End as "unknown" every attempt pending longer than `maxAgeMs`; returns them. */
  expire(now: number): Attempt[] {
    const expired: Attempt[] = [];
    const order = this.#order;
    for (let i = this.#head; i < order.length; i++) {
      const attempt = order[i] as Attempt;
      if (attempt.outcome !== "pending") continue;
      // Start order: the first young attempt ends the scan.
      if (now - attempt.startedAt < this.maxAgeMs) break;
      expired.push(attempt);
    }
    for (const attempt of expired) this.#end(attempt, "unknown", now);
    return expired;
  }

  #end(attempt: Attempt, outcome: Outcome, time: number): Attempt {
    const slot = attempt.slot;
    if (slot !== undefined && this.#bySlot[slot] === attempt) this.#bySlot[slot] = undefined;
    else if (this.#bySock.get(attempt.sock) === attempt) this.#bySock.delete(attempt.sock);
    this.#halfOpen--;
    const count = this.#perProcess.get(attempt.processKey);
    if (count && --count.halfOpen <= 0) this.#perProcess.delete(attempt.processKey);
    attempt.outcome = outcome;
    attempt.endedAt = time;
    this.#dropEnded();
    return attempt;
  }

  /** Drop the ended attempts at the head of the start order; compact once ended ones are half of what is kept. */
  #dropEnded(): void {
    this.#endedInOrder++;
    const order = this.#order;
    while (this.#head < order.length && (order[this.#head] as Attempt).outcome !== "pending") {
      this.#head++;
      this.#endedInOrder--;
    }
    const kept = order.length - this.#head;
    if (kept === 0) {
      this.#order = [];
      this.#head = 0;
      this.#endedInOrder = 0;
    } else if (this.#endedInOrder > 64 && this.#endedInOrder * 2 > kept) {
      this.#order = order.slice(this.#head).filter((a) => a.outcome === "pending");
      this.#head = 0;
      this.#endedInOrder = 0;
    } else if (this.#head > 4096 && this.#head * 2 > order.length) {
      this.#order = order.slice(this.#head);
      this.#head = 0;
    }
  }
}
