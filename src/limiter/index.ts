/**
 * halfopen/limiter: the Windows XP SP2 half-open rule for Node programs. At
 * most `maxHalfOpen` TCP connects in flight, the rest queued, nothing lost.
 * See docs/limiter.md.
 *
 * @example
 * ```ts
 * import { HalfOpenLimiter } from "halfopen/limiter";
 * const limiter = new HalfOpenLimiter({ maxHalfOpen: 10, connectTimeoutMs: 2000 });
 * const socket = limiter.connect({ host: "127.0.0.1", port: 8080 });
 * socket.on("connect", () => socket.destroy()).on("error", (e: NodeJS.ErrnoException) => console.log(e.code));
 * ```
 */
export { HalfOpenLimiter, sharedBudget, type AttemptOptions, type HalfOpenLimiterOptions, type LimitedConnectOptions, type LimitedTlsConnectOptions, type LimiterEvents, type LimiterStats } from "./limiter.js";
export { LimitedHttpAgent, LimitedHttpsAgent } from "./agents.js";
export { limitedConnector, limitedDispatcher, type LimitedDispatcherOptions } from "./dispatcher.js";
export { CHANNEL_NAMES, type AttemptMessage, type QueuedMessage, type StartedMessage, type EstablishedMessage, type FailedMessage, type LimitReachedMessage } from "./channels.js";
export { HalfOpenBudget, realClock, type BudgetClock, type BudgetStats, type HalfOpenBudgetOptions, type Lease, type LeaseState, type SlotRequest } from "../core/half-open-budget.js";
export { HalfOpenError, ErrorCodes, type ErrorCode } from "../errors.js";
