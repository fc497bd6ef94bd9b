/**
 * The contract between the platform and the core: every source (tracefs,
 * /proc polling, Windows, macOS, a replayed recording) is a stream of neutral
 * connection events (events.ts) in batches in time order, and says what it
 * can see: `exact` sources see every attempt; polling ones read a table every
 * `pollIntervalMs` and miss attempts shorter than that. Callers decide from
 * these fields, never from a source's name. Pure types.
 */
import type { ConnectionEvent } from "./events.js";
import type { NoteRead } from "./note-log.js";

/** Counters a source exposes for the summary and the stop record. */
export interface SourceStats {
  /** Events the kernel (or the source) lost. */
  lostEvents: number;
  /** Raw records decoded. */
  records: number;
  /** Reads of the kernel's buffers (each a look at every CPU's); tracefs only. */
  reads?: number;
  /** Of those, the reads made at the relaxed pace (setPace: while an incident was open); tracefs only. */
  relaxedReads?: number;
  /** Time the source was blind (tracing switched off under it), ms; tracefs only. */
  blindMs?: number;
  /** How many times it went blind. */
  blindSpells?: number;
  /** SYNs sent without connect() that the capture dropped (its receive buffer was full): also reported as lost events. */
  rawCaptureDrops?: number;
  /** SYNs sent without connect() that could not be given to one process (docs/watch.md). */
  rawUnattributed?: number;
}

export interface ConnectionSource {
  /** Short name: "tracefs", "procfs", ... */
  readonly name: string;
  /** True when the source sees every attempt (tracefs, a replay of it); false when it polls and may miss short ones. */
  readonly exact: boolean;
  /** For a polling source: how often it reads the socket table, ms. */
  readonly pollIntervalMs?: number;
  /** Set when the source's clock is not this machine's (a replay): added to its times to get wall-clock ms. */
  readonly wallOffsetMs?: number;
  /** What this source can and cannot see, said once at start (empty if nothing to say). */
  readonly caveats: string[];
  /** Acquire the OS resources; throws HalfOpenError with a stable code when it cannot. */
  start(): Promise<void>;
  /** Batches of events in time order, until `stop()` is called. */
  events(): AsyncIterable<ConnectionEvent[]>;
  /** Release everything; safe to call twice and from a signal handler. */
  stop(): void;
  stats(): SourceStats;
  /** The source's clock in ms, on the same base as event times. */
  now(): number;
  /** Source-specific facts for the start record (tracefs: its instance and how it wakes). */
  details?(): Record<string, string | number | boolean>;
  /**
   * Warnings that arose while running (each said once), from cursor `since`
   * on (0: all kept); pass the returned `next` to the following call. Reading
   * removes nothing: every consumer keeps its own cursor (a NoteLog).
   */
  warnings?(since: number): NoteRead;
  /**
   * "relaxed" while nothing waits on the next events but counts (the host is above the limit: the incident line is
   * out, and the next one cannot come before it closes); "prompt" otherwise. A source that wakes on data may then read
   * less often while busy: a wake-up costs far more than an event (about 42 µs of CPU on the VMs measured).
   */
  setPace?(pace: "prompt" | "relaxed"): void;
}
