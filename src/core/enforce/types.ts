/**
 * The data `watch --enforce` reports (core/enforce/enforcer.ts): counters,
 * per-process summaries, its findings and what the start and stop records
 * carry. Pure types, apart from the enforcer so records and the page can
 * name them without loading it.
 */
import type { EnforceScope } from "./scope.js";

/** What was held of one process (incidents, the stop record). */
export interface HeldSummary {
  /** Attempts held before their SYN went (or before the program gave up). */
  held: number;
  medianWaitMs: number;
  maxWaitMs: number;
  /** Held attempts the program gave up on before their turn. */
  abandoned: number;
  /** It was judged a scanner and runs under its own limit. */
  contained?: { limit: number };
}

export interface EnforceCounters {
  /** First SYNs seen in the queue (new attempts). */
  syns: number;
  /** Of those, held before release (or abandonment). */
  held: number;
  /** Held now. */
  holding: number;
  /** Released now and not ended: in flight, all scopes. */
  inFlight: number;
  maxInFlight: number;
  /** Resent SYNs of held attempts, dropped (the held one goes in its turn). */
  deduplicated: number;
  /** SYNs of already released attempts (retransmissions), let go. */
  retransmissions: number;
  /** Held attempts whose program gave up (socket left SYN_SENT) before their turn: dropped. */
  abandoned: number;
  /** Attempts of trusted programs and halfopen itself, never held. */
  exempt: number;
  /** Released attempts whose end was never seen, freed after maxSlotMs. */
  expired: number;
  /** Holding episodes (the queue of a scope went from empty to non-empty): what XP logged as Event 4226. */
  holdEpisodes: number;
  /** Processes contained (own limit after a scanner verdict). */
  contained: number;
  /** Attempts whose SYN should have come through the queue and never did: it was full (fail-open) or bypassed. */
  unqueued: number;
  /** SYNs sent through packet sockets (masscan, zmap): they pass no netfilter hook, so they cannot be held. */
  unholdable: number;
  /** SYNs the queue's thread let go within its grant while the gate had no room (should stay 0). */
  overGranted: number;
}

/** What the start record says of enforcement. */
export interface EnforceStart {
  limit: number;
  per: EnforceScope;
  /** "slot", or "rate R/s". */
  release: string;
  dryRun: boolean;
  containScanners?: number;
  /** The rules that steer SYNs into the queue, in words. */
  steering: string;
  netns?: string;
}

/** What the stop record says of enforcement. */
export interface EnforceStop extends EnforceCounters {
  /** SYNs the queue read, kernel deliveries that failed (those SYNs went unheld), packets let go unread, verdicts the kernel refused. */
  queue: { packets: number; overflows: number; unreadable: number; verdictErrors: number };
  /** Per process (or uid, while its process was never known), most held first. */
  processes: ({ processKey: string; pid?: number; name?: string } & HeldSummary)[];
}

/** The first hold of an episode, like Event 4226: "TCP/IP has reached the security limit ...". */
export interface HoldFinding {
  type: "enforce-hold";
  time: number;
  scope: string;
  limit: number;
  /** Whose attempt was held first, when known. */
  pid?: number;
  name?: string;
  dryRun: boolean;
}

/** A scanner put under its own limit. */
export interface ContainFinding {
  type: "contained";
  time: number;
  pid: number;
  name: string;
  processKey: string;
  limit: number;
}

export type EnforceFinding = HoldFinding | ContainFinding;
