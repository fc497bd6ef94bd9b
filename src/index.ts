/**
 * halfopen: which process is flooding this machine with half-open TCP
 * connection attempts. The public API, re-exported explicitly: the pure core
 * (events, the half-open table, the monitor and its detectors, incidents, the
 * record format), sources through one opener (`openWatchSource`), the limiter
 * and the error type. The OS readers and parsers behind the sources are
 * internal.
 *
 * @example
 * ```ts
 * import { HalfOpenMonitor, openWatchSource } from "halfopen";
 * // Live: `await openWatchSource()` (tracefs on Linux as root, else polling).
 * // Here a capture recorded with `halfopen watch --record` (no root, any OS):
 * const { source } = await openWatchSource({ replay: { path: "test/fixtures/records/scan.jsonl", speed: Infinity } });
 * const monitor = new HalfOpenMonitor({ limit: 10 });
 * const incidents: number[] = [];
 * for await (const batch of source.events()) {
 *   for (const e of batch) for (const out of monitor.handle(e)) if (out.type === "incident-open") incidents.push(out.time);
 *   monitor.tick(source.now());
 * }
 * if (incidents.length !== 1) throw new Error(`expected the capture's one incident, got ${incidents.length}`);
 * ```
 */
export { HalfOpenError, ErrorCodes, exitCodeFor, type ErrorCode } from "./errors.js";
export { VERSION } from "./version.js";
export { TcpState, tcpStateName } from "./core/tcp-state.js";
export { formatEndpoint, formatIPv4, formatIPv6, type Endpoint, type IpFamily } from "./core/endpoint.js";
export type { ConnectionEvent, ConnectEvent, LeaveEvent, ResetEvent, RetransmitEvent, ExitEvent, LostEvent, BlindEvent, OsLimitEvent, ProcessInfo, ContainerRef, PodRef } from "./core/events.js";
export { GROUP_BY, groupKey, whereText, attributionFilter, type GroupBy, type AttributionFilter } from "./core/attribution.js";
export { OUTCOMES, type Attempt, type Outcome, type OutcomeCounts } from "./core/attempt.js";
export { SynSentTracker, type SynSentTrackerOptions, type ProcessHalfOpen } from "./core/tracker.js";
export { DEFAULT_INCIDENT_BOUNDS, type IncidentBounds, type IncidentReport, type IncidentProcess, type AttemptSample } from "./core/incident.js";
export { HalfOpenMonitor, isOutput, type HalfOpenMonitorOptions, type MonitorOutput, type KnownOutput, type SourceFinding, type MonitorSummary, type MonitorTotals, type MonitorCounters, type ProcessTotals } from "./core/monitor.js";
export type { Detector, DetectorContext, Finding } from "./core/detector.js";
export { LimitDetector, type LimitDetectorOptions, type LimitFinding, type IncidentFinding, type OsLimitFinding } from "./core/limit-detector.js";
export { ScanVerdictDetector, trustList, type ScanVerdictOptions, type Verdict, type VerdictTest, type VerdictEvidence, type VerdictFinding, type VerdictSummary } from "./core/scan-detector.js";
export { ThresholdRandomWalk, ReverseSequentialTest, TRW_DEFAULTS, REVERSE_DEFAULTS, type SequentialTestParameters } from "./core/sequential-tests.js";
export { VirusThrottle, type VirusThrottleOptions } from "./core/virus-throttle.js";
export { NoteLog, type NoteRead } from "./core/note-log.js";
export type { ConnectionSource, SourceStats } from "./core/source.js";
export { openWatchSource, SOURCE_NAMES, type SourceName, type SelectOptions, type OpenedSource } from "./platform/select.js";
export { RecordEncoder, RecordDecoder, RECORD_FORMAT, RECORD_VERSION, type RecordHeader, type RecordItem } from "./core/record-format.js";
export { SimClock } from "./core/sim/sim-clock.js";
export { simulateScan, type ScanSimSpec, type ScanSimResult, type ScanPolicy } from "./core/sim/scan-sim.js";
export { simulateP2p, type P2pSimSpec, type P2pSimResult, type P2pPolicy } from "./core/sim/p2p-sim.js";
export { simulateWorm, fitLogisticK, limitedScanRate, type WormSimSpec, type WormSimResult, type WormPolicy } from "./core/sim/worm-sim.js";
export { HalfOpenBudget, realClock, type BudgetClock, type BudgetStats, type HalfOpenBudgetOptions, type Lease, type LeaseState, type SlotRequest } from "./core/half-open-budget.js";
export { HalfOpenLimiter, sharedBudget, LimitedHttpAgent, LimitedHttpsAgent, limitedConnector, limitedDispatcher, CHANNEL_NAMES } from "./limiter/index.js";
export type { AttemptOptions, HalfOpenLimiterOptions, LimitedConnectOptions, LimitedTlsConnectOptions, LimiterEvents, LimiterStats, LimitedDispatcherOptions, AttemptMessage, QueuedMessage, StartedMessage, EstablishedMessage, FailedMessage, LimitReachedMessage } from "./limiter/index.js";
