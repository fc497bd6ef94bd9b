/**
 * Every diagnostics_channel the limiter publishes on, declared in one place.
 * Subscribe from anywhere in the process (an APM agent, a logger, halfopen's
 * own tools) without a reference to the limiter:
 *
 * @example
 * ```ts
 * import diagnostics_channel from "node:diagnostics_channel";
 * diagnostics_channel.subscribe("halfopen:limiter:limit-reached", (m) => {
 *   const { limiter, inFlight, queued } = m as { limiter: string; inFlight: number; queued: number };
 *   console.warn(`${limiter}: half-open limit reached (${inFlight} in flight, ${queued} queued)`);
 * });
 * ```
 */
import diagnostics_channel from "node:diagnostics_channel";

/** What every message carries. */
export interface AttemptMessage {
  /** The limiter's `name`. */
  limiter: string;
  /** Unique per budget. */
  id: number;
  /** "host:port" (IPv6 in brackets). */
  target: string;
  host: string;
  port: number;
  /** Attempts in flight and queued in the budget when the event happened (an ending attempt still counts). */
  inFlight: number;
  queued: number;
}

/** The attempt had to wait: the budget was full (or the queue was not empty). */
export interface QueuedMessage extends AttemptMessage {
  priority: number;
}

/** The attempt got a slot and its connect (SYN) starts now. */
export interface StartedMessage extends AttemptMessage {
  waitedMs: number;
}

/** TCP handshake completed; the slot is released. */
export interface EstablishedMessage extends AttemptMessage {
  waitedMs: number;
  /** From slot grant to connect. */
  connectMs: number;
}

/** The attempt ended without a connection: refused, timed out, aborted, rejected from the queue, or destroyed. */
export interface FailedMessage extends AttemptMessage {
  /** `error.code` (ECONNREFUSED, HALFOPEN_CONNECT_TIMEOUT, HALFOPEN_QUEUE_TIMEOUT, ...) or "DESTROYED". */
  code: string;
  error: Error | undefined;
  /** Whether it had started (held a slot) when it failed. */
  started: boolean;
}

/**
 * The queue went from empty to non-empty: the counterpart of Windows Event
 * 4226 ("TCP/IP has reached the security limit imposed on the number of
 * concurrent TCP connect attempts"). Once per episode, not per attempt.
 */
export interface LimitReachedMessage {
  limiter: string;
  maxHalfOpen: number;
  inFlight: number;
  queued: number;
  /** The attempt that had to queue. */
  target: string;
}

/** The channel names, for subscribers. */
export const CHANNEL_NAMES = {
  queued: "halfopen:limiter:queued",
  started: "halfopen:limiter:started",
  established: "halfopen:limiter:established",
  failed: "halfopen:limiter:failed",
  limitReached: "halfopen:limiter:limit-reached",
} as const;

export const channels = {
  queued: diagnostics_channel.channel(CHANNEL_NAMES.queued),
  started: diagnostics_channel.channel(CHANNEL_NAMES.started),
  established: diagnostics_channel.channel(CHANNEL_NAMES.established),
  failed: diagnostics_channel.channel(CHANNEL_NAMES.failed),
  limitReached: diagnostics_channel.channel(CHANNEL_NAMES.limitReached),
} as const;
