/**
 * Gates: the half-open policies the simulator compares, each deciding when a
 * connect attempt may really start. Every workload (scan, P2P, browsing, a
 * recorded capture) asks its gate, so one policy means the same thing
 * everywhere. Pure: time and timers come from a GateClock (the SimClock, or real time given by `watch --enforce`).
 *
 *   program ── request(process, destination) ──► gate ── start() ──► the attempt runs
 *                                                  ▲                       │
 *                                                  └── finish(answered) ───┘
 *
 * Policies (docs/does-the-limit-help.md says where each comes from):
 *   none         every attempt starts at once
 *   xp           Windows XP SP2 as most read it: at most `limit` attempts in flight host-wide;
 *                the rest wait in a FIFO queue and a slot freed by a completion goes to the next
 *   xp-rate      the other reading ("queued and released at a fixed rate"): once `limit` are in
 *                flight, attempts queue, and the queue drains at `releasePerSecond` whatever
 *                is in flight (Microsoft never said which; both are modelled)
 *   per-process  the XP rule per process instead of host-wide (sources disagree on which XP did)
 *   halfopen     halfopen's own HalfOpenBudget inside the program (core/half-open-budget.ts,
 *                reused on the virtual clock), optionally paced; the program's timer starts
 *                when its slot is granted, so waiting never costs it an answer
 *   williamson   Williamson's virus throttle: a working set of the 5 most recent destinations
 *                passes at once; an attempt to a new destination waits in a delay queue whose
 *                head leaves once a second (with every other waiter for the same destination)
 *                and joins the working set; a queue over 100 is the alarm (counted, never dropped)
 *   credit       credit-based connection rate limiting (Schechter, Jung, Berger, RAID 2004): a
 *                balance of 10 credits; a first contact (a destination not contacted before)
 *                costs one and gets two back if it is answered; with no credit first contacts
 *                wait; each second a balance above 10 falls to max(10, ⅔ of it), and a balance
 *                at 0 for 4 seconds gets one credit
 *
 * Nothing is lost: a request starts, or the program withdraws it (cancel).
 * "4226 events" count the moments an attempt had to wait while none was
 * waiting (when XP would have logged Event 4226).
 */
import { type BudgetClock, HalfOpenBudget, type Lease } from "../half-open-budget.js";

/**
 * The time a gate runs on: the simulator's virtual clock (SimClock), or real
 * time for `watch --enforce` (given by the wiring: the core reads no clock).
 */
export interface GateClock extends BudgetClock {
  /** Run `fn` at absolute time `time` (not before now). */
  at(time: number, fn: () => void): unknown;
}

export type SimPolicy =
  | { kind: "none" }
  | { kind: "xp"; limit: number }
  | { kind: "xp-rate"; limit: number; releasePerSecond: number }
  | { kind: "per-process"; limit: number }
  | { kind: "halfopen"; limit: number; releasePerSecond?: number }
  | { kind: "williamson"; workingSet?: number; releasePerSecond?: number; queueAlarm?: number }
  | { kind: "credit"; initialCredits?: number; allowanceAfterMs?: number };

export type PolicyName = SimPolicy["kind"];
export const POLICY_NAMES: readonly PolicyName[] = ["none", "xp", "xp-rate", "per-process", "halfopen", "williamson", "credit"];

/** Defaults of the published mechanisms. */
export const WILLIAMSON_DEFAULTS = { workingSet: 5, releasePerSecond: 1, queueAlarm: 100 } as const;
export const CREDIT_DEFAULTS = { initialCredits: 10, allowanceAfterMs: 4000 } as const;

export interface GateAttempt {
  /** Who asked (a pid or a name): per-process policies count by it. */
  process: string;
  /** Where to: williamson and credit tell new destinations by it. */
  destination: string;
  /** Called once when the attempt may start; may run synchronously inside request() or finish(). */
  start(): void;
}

export interface GateTicket {
  readonly requestedAt: number;
  grantedAt?: number;
}

export interface GateStats {
  /** Moments an attempt had to wait while none was waiting (XP's Event 4226). */
  limitEvents: number;
  /** Most attempts in flight at once, host-wide. */
  maxInFlight: number;
  /** Most attempts of one process in flight at once. */
  maxInFlightPerProcess: number;
  /** Williamson: times the delay queue grew past its alarm length. */
  alarms: number;
}

export interface Gate {
  readonly policy: SimPolicy;
  /** True when the program's own timer starts at the grant (halfopen), false when it starts at connect() (an OS policy). */
  readonly timerAtGrant: boolean;
  /** The in-flight bound the policy promises: host-wide, per process, or none. */
  readonly bound?: { limit: number; per: "host" | "process" };
  request(attempt: GateAttempt): GateTicket;
  /** A started attempt ended, answered or not. */
  finish(ticket: GateTicket, answered: boolean): void;
  /** The program gave up on an attempt that has not started. */
  cancel(ticket: GateTicket): void;
  stats(): GateStats;
}

interface Ticket extends GateTicket {
  attempt: GateAttempt;
  lease?: Lease;
  firstContact?: boolean;
  state: "queued" | "started" | "done" | "cancelled";
}

/** Counts in-flight attempts, host-wide and per process, and the 4226 moments. */
class Meter {
  inFlight = 0;
  readonly perProcess = new Map<string, number>();
  readonly stats: GateStats = { limitEvents: 0, maxInFlight: 0, maxInFlightPerProcess: 0, alarms: 0 };

  started(t: Ticket, now: number): void {
    t.state = "started";
    t.grantedAt = now;
    this.inFlight++;
    const p = (this.perProcess.get(t.attempt.process) ?? 0) + 1;
    this.perProcess.set(t.attempt.process, p);
    if (this.inFlight > this.stats.maxInFlight) this.stats.maxInFlight = this.inFlight;
    if (p > this.stats.maxInFlightPerProcess) this.stats.maxInFlightPerProcess = p;
  }

  ended(t: Ticket): boolean {
    if (t.state !== "started") return false;
    t.state = "done";
    this.inFlight--;
    const p = (this.perProcess.get(t.attempt.process) ?? 1) - 1;
    if (p === 0) this.perProcess.delete(t.attempt.process);
    else this.perProcess.set(t.attempt.process, p);
    return true;
  }
}

/** A FIFO with removal (cancel) by marking: the head skips cancelled tickets. */
class Fifo {
  #items: Ticket[] = [];
  #head = 0;
  #live = 0;
  get length(): number {
    return this.#live;
  }
  push(t: Ticket): void {
    this.#items.push(t);
    this.#live++;
  }
  shift(): Ticket | undefined {
    while (this.#head < this.#items.length) {
      const t = this.#items[this.#head++] as Ticket;
      if (t.state === "queued") {
        this.#live--;
        this.#compact();
        return t;
      }
    }
    return undefined;
  }
  /** Every queued ticket, in order (for the throttle's same-destination release). */
  *queued(): Iterable<Ticket> {
    for (let i = this.#head; i < this.#items.length; i++) {
      const t = this.#items[i] as Ticket;
      if (t.state === "queued") yield t;
    }
  }
  /** A queued ticket was cancelled or started out of order. */
  removed(): void {
    this.#live--;
  }
  #compact(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }
}

abstract class BaseGate implements Gate {
  readonly timerAtGrant: boolean = false;
  readonly bound?: { limit: number; per: "host" | "process" };
  protected readonly meter = new Meter();
  constructor(
    readonly policy: SimPolicy,
    protected readonly clock: GateClock,
  ) {}
  abstract request(attempt: GateAttempt): GateTicket;
  abstract finish(ticket: GateTicket, answered: boolean): void;
  abstract cancel(ticket: GateTicket): void;
  stats(): GateStats {
    return { ...this.meter.stats };
  }
  protected ticket(attempt: GateAttempt): Ticket {
    return { attempt, requestedAt: this.clock.now(), state: "queued" };
  }
  protected go(t: Ticket): void {
    this.meter.started(t, this.clock.now());
    t.attempt.start();
  }
}

class NoGate extends BaseGate {
  request(attempt: GateAttempt): GateTicket {
    const t = this.ticket(attempt);
    this.go(t);
    return t;
  }
  finish(ticket: GateTicket): void {
    this.meter.ended(ticket as Ticket);
  }
  cancel(): void {}
}

/** A gate with its own FIFO of waiting tickets (xp-rate, williamson, credit). */
abstract class QueuedGate extends BaseGate {
  protected readonly queue = new Fifo();
  finish(ticket: GateTicket, _answered: boolean): void {
    this.meter.ended(ticket as Ticket);
  }
  cancel(ticket: GateTicket): void {
    const t = ticket as Ticket;
    if (t.state !== "queued") return;
    t.state = "cancelled";
    this.queue.removed();
  }
}

/** xp, per-process and halfopen: HalfOpenBudget, one host-wide or one per process. */
class BudgetGate extends BaseGate {
  override readonly timerAtGrant: boolean;
  override readonly bound: { limit: number; per: "host" | "process" };
  readonly #budgets = new Map<string, HalfOpenBudget>();
  readonly #limit: number;
  readonly #pace: number | undefined;

  constructor(policy: Extract<SimPolicy, { kind: "xp" | "per-process" | "halfopen" }>, clock: GateClock) {
    super(policy, clock);
    this.#limit = policy.limit;
    this.#pace = policy.kind === "halfopen" ? policy.releasePerSecond : undefined;
    this.timerAtGrant = policy.kind === "halfopen";
    this.bound = { limit: policy.limit, per: policy.kind === "per-process" ? "process" : "host" };
  }

  #budget(process: string): HalfOpenBudget {
    const key = this.bound.per === "process" ? process : "";
    let b = this.#budgets.get(key);
    if (!b) {
      b = new HalfOpenBudget({ maxHalfOpen: this.#limit, clock: this.clock, ...(this.#pace === undefined ? {} : { releasePerSecond: this.#pace }) });
      this.#budgets.set(key, b);
    }
    return b;
  }

  request(attempt: GateAttempt): GateTicket {
    const t = this.ticket(attempt);
    const lease = this.#budget(attempt.process).request({
      start: () => this.go(t),
      reject: () => undefined, // no queue timeout and no queue bound: nothing is rejected
    });
    t.lease = lease;
    if (lease.openedEpisode) this.meter.stats.limitEvents++;
    return t;
  }

  finish(ticket: GateTicket): void {
    const t = ticket as Ticket;
    if (this.meter.ended(t)) t.lease?.release();
  }

  cancel(ticket: GateTicket): void {
    const t = ticket as Ticket;
    if (t.state !== "queued") return;
    t.state = "cancelled";
    t.lease?.release();
  }
}

/** Runs `tick` at each whole multiple of `periodMs` while `wanted()` says so. */
class Ticker {
  #pending = false;
  constructor(
    private readonly clock: GateClock,
    private readonly periodMs: number,
    private readonly tick: () => void,
    private readonly wanted: () => boolean,
  ) {}
  /** Make sure a tick is scheduled (at the next boundary after now). */
  arm(): void {
    if (this.#pending) return;
    this.#pending = true;
    const now = this.clock.now();
    const next = (Math.floor(now / this.periodMs + 1e-9) + 1) * this.periodMs;
    this.clock.at(next, () => {
      this.#pending = false;
      this.tick();
      if (this.wanted()) this.arm();
    });
  }
}

/** xp-rate: once `limit` are in flight, attempts queue; the queue drains at a fixed rate. */
class RateGate extends QueuedGate {
  readonly #limit: number;
  readonly #ticker: Ticker;

  constructor(policy: Extract<SimPolicy, { kind: "xp-rate" }>, clock: GateClock) {
    super(policy, clock);
    this.#limit = policy.limit;
    this.#ticker = new Ticker(
      clock,
      1000 / policy.releasePerSecond,
      () => {
        const t = this.queue.shift();
        if (t) this.go(t);
      },
      () => this.queue.length > 0,
    );
  }

  request(attempt: GateAttempt): GateTicket {
    const t = this.ticket(attempt);
    if (this.queue.length === 0 && this.meter.inFlight < this.#limit) {
      this.go(t);
      return t;
    }
    if (this.queue.length === 0) this.meter.stats.limitEvents++;
    this.queue.push(t);
    this.#ticker.arm();
    return t;
  }
}

/** Williamson's virus throttle, host-wide. */
class ThrottleGate extends QueuedGate {
  /** Destinations, least recently used first. */
  readonly #workingSet = new Map<string, true>();
  readonly #size: number;
  readonly #alarmAt: number;
  #alarmed = false;
  readonly #ticker: Ticker;

  constructor(policy: Extract<SimPolicy, { kind: "williamson" }>, clock: GateClock) {
    super(policy, clock);
    this.#size = policy.workingSet ?? WILLIAMSON_DEFAULTS.workingSet;
    this.#alarmAt = policy.queueAlarm ?? WILLIAMSON_DEFAULTS.queueAlarm;
    this.#ticker = new Ticker(clock, 1000 / (policy.releasePerSecond ?? WILLIAMSON_DEFAULTS.releasePerSecond), () => this.#release(), () => this.queue.length > 0);
  }

  #touch(destination: string): void {
    this.#workingSet.delete(destination);
    this.#workingSet.set(destination, true);
    while (this.#workingSet.size > this.#size) this.#workingSet.delete(this.#workingSet.keys().next().value as string);
  }

  #release(): void {
    const head = this.queue.shift();
    if (!head) return;
    const destination = head.attempt.destination;
    this.#touch(destination);
    const same = [...this.queue.queued()].filter((t) => t.attempt.destination === destination);
    this.go(head);
    for (const t of same) {
      this.queue.removed();
      this.go(t);
    }
    if (this.queue.length <= this.#alarmAt) this.#alarmed = false;
  }

  request(attempt: GateAttempt): GateTicket {
    const t = this.ticket(attempt);
    if (this.#workingSet.has(attempt.destination)) {
      this.#touch(attempt.destination);
      this.go(t);
      return t;
    }
    if (this.queue.length === 0) this.meter.stats.limitEvents++;
    this.queue.push(t);
    if (this.queue.length > this.#alarmAt && !this.#alarmed) {
      this.#alarmed = true;
      this.meter.stats.alarms++;
    }
    this.#ticker.arm();
    return t;
  }
}

/** Credit-based connection rate limiting, host-wide. */
class CreditGate extends QueuedGate {
  readonly #contacted = new Set<string>();
  readonly #base: number;
  readonly #allowanceAfter: number;
  #credits: number;
  /** Since when the balance has been below one credit. */
  #brokeSince: number | undefined;
  readonly #ticker: Ticker;

  constructor(policy: Extract<SimPolicy, { kind: "credit" }>, clock: GateClock) {
    super(policy, clock);
    this.#base = policy.initialCredits ?? CREDIT_DEFAULTS.initialCredits;
    this.#allowanceAfter = policy.allowanceAfterMs ?? CREDIT_DEFAULTS.allowanceAfterMs;
    this.#credits = this.#base;
    this.#ticker = new Ticker(clock, 1000, () => this.#second(), () => this.queue.length > 0 || this.#credits > this.#base);
  }

  get credits(): number {
    return this.#credits;
  }

  #second(): void {
    if (this.#credits > this.#base) this.#credits = Math.max(this.#base, (this.#credits * 2) / 3);
    if (this.#credits < 1 && this.#brokeSince !== undefined && this.clock.now() - this.#brokeSince >= this.#allowanceAfter - 1e-6) {
      this.#credits = 1;
      this.#brokeSince = undefined;
    }
    this.#drain();
  }

  #spend(t: Ticket): void {
    this.#credits -= 1;
    if (this.#credits < 1 && this.#brokeSince === undefined) this.#brokeSince = this.clock.now();
    t.firstContact = true;
    this.#contacted.add(t.attempt.destination);
    this.go(t);
  }

  #drain(): void {
    for (;;) {
      const next = this.queue.queued()[Symbol.iterator]().next();
      if (next.done) return;
      const t = next.value;
      if (this.#contacted.has(t.attempt.destination)) {
        // Contacted meanwhile: no longer a first contact.
        this.queue.shift();
        this.go(t);
        continue;
      }
      if (this.#credits < 1) return;
      this.queue.shift();
      this.#spend(t);
    }
  }

  request(attempt: GateAttempt): GateTicket {
    const t = this.ticket(attempt);
    if (this.#contacted.has(attempt.destination)) {
      this.go(t);
      return t;
    }
    if (this.queue.length === 0 && this.#credits >= 1) {
      this.#spend(t);
      return t;
    }
    if (this.queue.length === 0) this.meter.stats.limitEvents++;
    this.queue.push(t);
    this.#ticker.arm();
    return t;
  }

  override finish(ticket: GateTicket, answered: boolean): void {
    const t = ticket as Ticket;
    if (!this.meter.ended(t)) return;
    if (t.firstContact && answered) {
      this.#credits += 2;
      if (this.#credits >= 1) this.#brokeSince = undefined;
      if (this.#credits > this.#base) this.#ticker.arm();
      this.#drain();
    }
  }
}

/** Checks a policy's numbers; throws a RangeError naming what is wrong. */
export function checkPolicy(policy: SimPolicy): void {
  if ("limit" in policy && !(Number.isInteger(policy.limit) && policy.limit >= 1)) throw new RangeError(`Cannot use limit ${policy.limit}: expected a whole number of at least 1`);
  if ("releasePerSecond" in policy && policy.releasePerSecond !== undefined && !(policy.releasePerSecond > 0 && Number.isFinite(policy.releasePerSecond)))
    throw new RangeError(`Cannot release ${policy.releasePerSecond} per second: expected more than 0`);
}

export function makeGate(policy: SimPolicy, clock: GateClock): Gate {
  checkPolicy(policy);
  switch (policy.kind) {
    case "none":
      return new NoGate(policy, clock);
    case "xp":
    case "per-process":
    case "halfopen":
      return new BudgetGate(policy, clock);
    case "xp-rate":
      return new RateGate(policy, clock);
    case "williamson":
      return new ThrottleGate(policy, clock);
    case "credit":
      return new CreditGate(policy, clock);
  }
}

/** The policy a name stands for, with the numbers the CLI was given. */
export function policyFromName(name: PolicyName, o: { limit: number; releasePerSecond: number; pace?: number }): SimPolicy {
  switch (name) {
    case "none":
      return { kind: "none" };
    case "xp":
    case "per-process":
      return { kind: name, limit: o.limit };
    case "halfopen":
      return { kind: "halfopen", limit: o.limit, ...(o.pace === undefined ? {} : { releasePerSecond: o.pace }) };
    case "xp-rate":
      return { kind: "xp-rate", limit: o.limit, releasePerSecond: o.releasePerSecond };
    case "williamson":
      return { kind: "williamson" };
    case "credit":
      return { kind: "credit" };
  }
}
