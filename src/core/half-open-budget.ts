/**
 * HalfOpenBudget: the Windows XP SP2 rule as a pure queue. At most
 * `maxHalfOpen` connect attempts hold a slot at once; the rest wait, highest
 * priority first and FIFO within a priority, and optionally leave the queue no
 * faster than `releasePerSecond` (XP released queued attempts at a fixed rate).
 * Nothing is lost: a request either starts or is rejected with a coded error
 * (its signal fired, it waited longer than `maxQueueMs`, the queue was full).
 *
 * Pure: no sockets or files. Time comes from a `BudgetClock` (real timers by
 * default, a manual clock in tests). The socket side is src/limiter/.
 *
 *   request() ─ slot free, queue empty, pace ok ──────────► start(lease)  (now)
 *       │ otherwise
 *       ▼
 *   queue: [p=5 a, p=5 b | p=0 c, p=0 d]   priority desc, FIFO within
 *       │ lease.release() of a started attempt, or the pace timer
 *       ▼
 *   head.start(lease) runs inside release(): the freed slot passes to the head
 *   synchronously, so no request made in between can jump the queue.
 *
 * Invariants (checked by half-open-budget.property.test.ts):
 *   - inFlight ≤ maxHalfOpen, and inFlight = leases started and not released;
 *   - a lease starts at most once and releases its slot at most once;
 *   - a queued lease ends exactly once: started, rejected, or cancelled;
 *   - when a lease leaves the queue to start, no queued lease outranks it;
 *   - with releasePerSecond = r, starts from the queue are ≥ 1000/r ms apart.
 */
import { whenAborted } from "./abort-registry.js";
import { ErrorCodes, HalfOpenError } from "../errors.js";

/** Where the budget gets time and timers from. */
export interface BudgetClock {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  setTimer(callback: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

/** Real time: `performance.now()` and `setTimeout`. */
export const realClock: BudgetClock = {
  now: () => performance.now(),
  setTimer: (callback, ms) => setTimeout(callback, ms),
  clearTimer: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export interface HalfOpenBudgetOptions {
  /** Attempts allowed in flight at once. Default 10 (XP SP2). */
  maxHalfOpen?: number;
  /** Start queued attempts no faster than this many per second. Default: no pacing. */
  releasePerSecond?: number;
  /** Reject an attempt that waited this long in the queue. Default: wait forever. */
  maxQueueMs?: number;
  /** Reject new attempts while this many are queued. Default: unbounded. */
  maxQueueLength?: number;
  clock?: BudgetClock;
}

export interface SlotRequest {
  /** Called once when the attempt may start: connect now. May run synchronously inside `request()` or another lease's `release()`. */
  start(lease: Lease): void;
  /** Called once if the attempt is rejected before it started. */
  reject(error: HalfOpenError): void;
  /** Higher goes first. Default 0. */
  priority?: number;
  /** Cancels the wait (rejects with HALFOPEN_ABORTED). Ignored once started. */
  signal?: AbortSignal;
  /** Overrides the budget's `maxQueueMs` for this request. */
  maxQueueMs?: number;
  /** Names the attempt in error messages, e.g. "198.18.0.1:80" (a function is called only when a message needs it). */
  label?: string | (() => string);
}

export type LeaseState = "queued" | "started" | "released" | "rejected" | "cancelled";

/** One request's place in the budget: queued, then started (holding a slot), then released. */
export interface Lease {
  readonly id: number;
  readonly state: LeaseState;
  readonly priority: number;
  /** When the request was made (clock ms). */
  readonly requestedAt: number;
  /** When it started, or undefined. */
  readonly startedAt: number | undefined;
  /** Time spent queued (so far, if still queued). */
  readonly waitedMs: number;
  /** True if this request found the queue empty and had to queue: a new "limit reached" episode (the XP Event 4226 moment). */
  readonly openedEpisode: boolean;
  /** Started: frees the slot and starts the next waiter. Queued: leaves the queue without calling `reject`. Returns false if it had nothing to do (called before). */
  release(): boolean;
}

export interface BudgetStats {
  maxHalfOpen: number;
  inFlight: number;
  queued: number;
  peakInFlight: number;
  peakQueued: number;
  /** Requests that started (immediately or from the queue). */
  started: number;
  /** Requests that had to queue. */
  queuedTotal: number;
  released: number;
  rejected: { aborted: number; queueTimeout: number; queueFull: number };
  /** Queued requests the caller withdrew (lease.release() while queued). */
  cancelled: number;
  /** Times the queue went from empty to non-empty. */
  limitEpisodes: number;
  /** Total and longest time started requests spent queued. */
  waitMsTotal: number;
  waitMsMax: number;
}

interface Node {
  lease: LeaseImpl;
  prev: Node | undefined;
  next: Node | undefined;
}

function checkOption(name: string, value: number | undefined, rule: { min: number; integer: boolean; infinity: boolean }): void {
  if (value === undefined) return;
  const ok =
    typeof value === "number" &&
    value >= rule.min &&
    (Number.isFinite(value) ? !rule.integer || Number.isInteger(value) : rule.infinity && value === Infinity);
  if (!ok) {
    const kind = rule.integer ? "an integer" : "a number";
    throw new HalfOpenError(ErrorCodes.INVALID_OPTION, `Invalid option ${name} "${String(value)}": must be ${kind} ≥ ${rule.min}${rule.infinity ? " or Infinity" : ""}`);
  }
}

class LeaseImpl implements Lease {
  state: LeaseState = "queued";
  startedAt: number | undefined;
  openedEpisode = false;
  node: Node | undefined;
  timer: unknown;
  onAbort: (() => void) | undefined;
  /** Takes onAbort back from the signal's shared listener (abort-registry.ts). */
  offAbort?: (() => void) | undefined;

  constructor(
    readonly budget: HalfOpenBudget,
    readonly id: number,
    readonly request: SlotRequest,
    readonly priority: number,
    readonly requestedAt: number,
  ) {}

  get waitedMs(): number {
    return (this.startedAt ?? this.budget.clock.now()) - this.requestedAt;
  }

  release(): boolean {
    return this.budget.releaseLease(this);
  }
}

export class HalfOpenBudget {
  readonly maxHalfOpen: number;
  readonly releasePerSecond: number | undefined;
  readonly maxQueueMs: number | undefined;
  readonly maxQueueLength: number;
  readonly clock: BudgetClock;

  #inFlight = 0;
  #queued = 0;
  #head: Node | undefined;
  #tail: Node | undefined;
  #nextId = 1;
  #lastQueuedStart = -Infinity;
  #paceTimer: unknown;
  #draining = false;
  readonly #stats = {
    peakInFlight: 0,
    peakQueued: 0,
    started: 0,
    queuedTotal: 0,
    released: 0,
    rejected: { aborted: 0, queueTimeout: 0, queueFull: 0 },
    cancelled: 0,
    limitEpisodes: 0,
    waitMsTotal: 0,
    waitMsMax: 0,
  };

  constructor(options: HalfOpenBudgetOptions = {}) {
    checkOption("maxHalfOpen", options.maxHalfOpen, { min: 1, integer: true, infinity: false });
    if (options.releasePerSecond !== undefined && !(options.releasePerSecond > 0)) {
      throw new HalfOpenError(ErrorCodes.INVALID_OPTION, `Invalid option releasePerSecond "${String(options.releasePerSecond)}": must be a number > 0`);
    }
    checkOption("maxQueueMs", options.maxQueueMs, { min: 0, integer: false, infinity: true });
    checkOption("maxQueueLength", options.maxQueueLength, { min: 0, integer: true, infinity: true });
    this.maxHalfOpen = options.maxHalfOpen ?? 10;
    this.releasePerSecond = options.releasePerSecond;
    this.maxQueueMs = options.maxQueueMs;
    this.maxQueueLength = options.maxQueueLength ?? Infinity;
    this.clock = options.clock ?? realClock;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  get queued(): number {
    return this.#queued;
  }

  /**
   * Ask for a slot. `start` runs now if one is free and nobody waits,
   * otherwise when the lease reaches the head of the queue and a slot frees.
   *
   * @example
   * ```ts
   * import { HalfOpenBudget } from "halfopen";
   * const budget = new HalfOpenBudget({ maxHalfOpen: 2 });
   * const lease = budget.request({ start: () => console.log("connect now"), reject: (e) => console.log(e.code) });
   * // ... when the attempt connects, fails or is destroyed:
   * lease.release();
   * ```
   */
  request(request: SlotRequest): Lease {
    checkOption("maxQueueMs", request.maxQueueMs, { min: 0, integer: false, infinity: true });
    const now = this.clock.now();
    const lease = new LeaseImpl(this, this.#nextId++, request, request.priority ?? 0, now);
    if (request.signal?.aborted) {
      this.#stats.rejected.aborted++;
      this.#reject(lease, this.#abortError(lease, request.signal));
      return lease;
    }
    if (this.#queued === 0 && this.#inFlight < this.maxHalfOpen) {
      this.#start(lease, now, false);
      return lease;
    }
    if (this.#queued >= this.maxQueueLength) {
      this.#stats.rejected.queueFull++;
      this.#reject(lease, new HalfOpenError(ErrorCodes.QUEUE_FULL, `Cannot queue connect attempt${this.#labelOf(lease)}: the queue already holds ${this.#queued} attempts (maxQueueLength ${this.maxQueueLength})`));
      return lease;
    }
    this.#enqueue(lease);
    const maxQueueMs = request.maxQueueMs ?? this.maxQueueMs;
    if (maxQueueMs !== undefined && Number.isFinite(maxQueueMs)) {
      lease.timer = this.clock.setTimer(() => {
        if (lease.state !== "queued") return;
        this.#unlink(lease);
        this.#stats.rejected.queueTimeout++;
        this.#reject(lease, new HalfOpenError(ErrorCodes.QUEUE_TIMEOUT, `Connect attempt${this.#labelOf(lease)} waited ${Math.round(this.clock.now() - lease.requestedAt)} ms in the queue without starting (maxQueueMs ${maxQueueMs}, ${this.#inFlight} in flight, limit ${this.maxHalfOpen})`));
      }, maxQueueMs);
    }
    const signal = request.signal;
    if (signal) {
      lease.onAbort = () => {
        if (lease.state !== "queued") return;
        this.#unlink(lease);
        this.#stats.rejected.aborted++;
        this.#reject(lease, this.#abortError(lease, signal));
      };
      lease.offAbort = whenAborted(signal, lease.onAbort);
    }
    return lease;
  }

  /** Counters since construction, and the current queue. */
  stats(): BudgetStats {
    const s = this.#stats;
    return { maxHalfOpen: this.maxHalfOpen, inFlight: this.#inFlight, queued: this.#queued, ...s, rejected: { ...s.rejected } };
  }

  /** @internal Lease.release() lands here. */
  releaseLease(lease: LeaseImpl): boolean {
    if (lease.state === "started") {
      lease.state = "released";
      this.#inFlight--;
      this.#stats.released++;
      this.#drain();
      return true;
    }
    if (lease.state === "queued") {
      this.#unlink(lease);
      lease.state = "cancelled";
      this.#stats.cancelled++;
      this.#cleanup(lease);
      return true;
    }
    return false;
  }

  #labelOf(lease: LeaseImpl): string {
    const label = lease.request.label;
    const text = typeof label === "function" ? label.call(lease.request) : label;
    return text ? ` to ${text}` : "";
  }

  #abortError(lease: LeaseImpl, signal: AbortSignal): HalfOpenError {
    return new HalfOpenError(ErrorCodes.ABORTED, `Connect attempt${this.#labelOf(lease)} aborted while queued (waited ${Math.round(this.clock.now() - lease.requestedAt)} ms)`, { cause: signal.reason });
  }

  /** Whether a queued lease may start now, given releasePerSecond. */
  #paceAllows(now: number): boolean {
    // A nanosecond of slack: the pace timer fires at last + 1000/r, which floating point may put an ulp short,
    // and a wait of one ulp does not move a virtual clock (the simulator's) forward.
    return this.releasePerSecond === undefined || now - this.#lastQueuedStart >= 1000 / this.releasePerSecond - 1e-6;
  }

  #start(lease: LeaseImpl, now: number, fromQueue: boolean): void {
    lease.state = "started";
    lease.startedAt = now;
    this.#inFlight++;
    this.#stats.started++;
    if (this.#inFlight > this.#stats.peakInFlight) this.#stats.peakInFlight = this.#inFlight;
    if (fromQueue) {
      this.#lastQueuedStart = now;
      const waited = now - lease.requestedAt;
      this.#stats.waitMsTotal += waited;
      if (waited > this.#stats.waitMsMax) this.#stats.waitMsMax = waited;
    }
    this.#cleanup(lease);
    lease.request.start(lease);
  }

  #reject(lease: LeaseImpl, error: HalfOpenError): void {
    lease.state = "rejected";
    this.#cleanup(lease);
    lease.request.reject(error);
  }

  #cleanup(lease: LeaseImpl): void {
    if (lease.timer !== undefined) {
      this.clock.clearTimer(lease.timer);
      lease.timer = undefined;
    }
    if (lease.onAbort) {
      lease.offAbort?.();
      lease.onAbort = undefined;
      lease.offAbort = undefined;
    }
  }

  /**
   * Start queued leases while slots are free and the pace allows; arm the pace
   * timer otherwise. Runs when a slot frees or the pace timer fires; a lease
   * leaving the queue (abort, timeout, withdrawal) frees nothing, so it does not.
   */
  #drain(): void {
    // start() callbacks may release or request re-entrantly; the outer loop picks that up.
    if (this.#draining) return;
    this.#draining = true;
    try {
      while (this.#head && this.#inFlight < this.maxHalfOpen) {
        const now = this.clock.now();
        if (!this.#paceAllows(now)) {
          if (this.#paceTimer === undefined) {
            const wait = this.#lastQueuedStart + 1000 / this.releasePerSecond! - now;
            this.#paceTimer = this.clock.setTimer(() => {
              this.#paceTimer = undefined;
              this.#drain();
            }, Math.max(0, wait));
          }
          return;
        }
        const lease = this.#head.lease;
        this.#unlink(lease);
        this.#start(lease, now, true);
      }
    } finally {
      this.#draining = false;
    }
  }

  #enqueue(lease: LeaseImpl): void {
    const node: Node = { lease, prev: undefined, next: undefined };
    lease.node = node;
    // Walk back from the tail past lower priorities (O(1) with one priority).
    let after = this.#tail;
    while (after && after.lease.priority < lease.priority) after = after.prev;
    node.prev = after;
    node.next = after ? after.next : this.#head;
    if (node.next) node.next.prev = node;
    else this.#tail = node;
    if (after) after.next = node;
    else this.#head = node;
    if (this.#queued === 0) {
      this.#stats.limitEpisodes++;
      lease.openedEpisode = true;
    }
    this.#queued++;
    this.#stats.queuedTotal++;
    if (this.#queued > this.#stats.peakQueued) this.#stats.peakQueued = this.#queued;
  }

  #unlink(lease: LeaseImpl): void {
    const node = lease.node;
    if (!node) return;
    if (node.prev) node.prev.next = node.next;
    else this.#head = node.next;
    if (node.next) node.next.prev = node.prev;
    else this.#tail = node.prev;
    lease.node = undefined;
    this.#queued--;
    // Nobody left to pace: a pending pace timer would fire for nothing (and keep a process alive until then).
    if (this.#queued === 0 && this.#paceTimer !== undefined) {
      this.clock.clearTimer(this.#paceTimer);
      this.#paceTimer = undefined;
    }
  }
}
