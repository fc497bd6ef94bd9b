/**
 * halfopen: which process is flooding this machine with half-open TCP
 * connection attempts. The public API, re-exported explicitly.
 *
 * @example
 * ```ts
 * import { HalfOpenMonitor, openWatchSource } from "halfopen";
 * const { source } = await openWatchSource(); // tracefs on Linux as root, else /proc polling
 * // or, with no root and on any OS: new ReplaySource({ path: "capture.jsonl" }), then await source.start()
 * const monitor = new HalfOpenMonitor({ limit: 10 });
 * for await (const batch of source.events()) {
 *   for (const e of batch) for (const out of monitor.handle(e)) console.log(out.type);
 * }
 * ```
 */
export { HalfOpenError, ErrorCodes, exitCodeFor, type ErrorCode } from "./errors.js";
export { VERSION } from "./version.js";
export { TcpState, tcpStateName } from "./core/tcp-state.js";
export { formatEndpoint, formatIPv4, formatIPv6, type Endpoint, type IpFamily } from "./core/endpoint.js";
export type { ConnectionEvent, ConnectEvent, LeaveEvent, ResetEvent, RetransmitEvent, ExitEvent, LostEvent, BlindEvent, OsLimitEvent, ProcessInfo } from "./core/events.js";
export { groupByProcess, selectRows, type SocketRow, type SocketSnapshot, type ProcessSockets, type GroupOptions } from "./core/socket-table.js";
export { SnapshotDiffer, UNKNOWN_OWNER_PID } from "./core/snapshot-diff.js";
export { OUTCOMES, type Attempt, type Outcome, type OutcomeCounts } from "./core/attempt.js";
export { SynSentTracker, type SynSentTrackerOptions, type ProcessHalfOpen } from "./core/tracker.js";
export { IncidentRecorder, DEFAULT_INCIDENT_BOUNDS, type IncidentBounds, type IncidentReport, type IncidentProcess, type AttemptSample } from "./core/incident.js";
export { HalfOpenMonitor, isOutput, type HalfOpenMonitorOptions, type MonitorOutput, type KnownOutput, type SourceFinding, type MonitorSummary, type MonitorTotals, type MonitorCounters, type ProcessTotals } from "./core/monitor.js";
export type { Detector, DetectorContext, Finding } from "./core/detector.js";
export { LimitDetector, type LimitDetectorOptions, type LimitFinding, type IncidentFinding, type OsLimitFinding } from "./core/limit-detector.js";
export type { ConnectionSource, SourceStats } from "./core/source.js";
export { selectSource, openWatchSource, selectReader, makeReader, defaultReaderName, SOURCE_NAMES, type SourceName, type ReaderName, type SelectOptions, type OpenedSource } from "./platform/select.js";
export { PollingSource, type PollingSourceOptions, type SocketReader, type SocketRead, type ReadOptions } from "./platform/polling-source.js";
export { runTool, type ToolRunner, type ToolResult, type ToolOptions } from "./platform/tools.js";
export { ProcfsReader, type ProcfsReaderOptions } from "./platform/linux/procfs-reader.js";
export { parseProcNetTcp, parseSocketLink } from "./platform/linux/proc-net-tcp.js";
export { WindowsReader, type WindowsReaderOptions } from "./platform/windows/windows-reader.js";
export { parseNetstatAno, parseTasklistCsv, parseNetTcpConnectionJson, parseWevtutil4226, netstatState } from "./platform/windows/parse.js";
export { MacosReader, type MacosReaderOptions } from "./platform/macos/macos-reader.js";
export { parseLsofF, parseNetstatAnv } from "./platform/macos/parse.js";
export { TracefsSource, type TracefsSourceOptions } from "./platform/linux/tracefs-source.js";
export { RecordEncoder, RecordDecoder, RECORD_FORMAT, RECORD_VERSION, type RecordHeader, type RecordItem } from "./core/record-format.js";
export { ReplaySource, type ReplaySourceOptions } from "./platform/replay-source.js";
export { HalfOpenBudget, realClock, type BudgetClock, type BudgetStats, type HalfOpenBudgetOptions, type Lease, type LeaseState, type SlotRequest } from "./core/half-open-budget.js";
export { HalfOpenLimiter, sharedBudget, LimitedHttpAgent, LimitedHttpsAgent, limitedConnector, limitedDispatcher, CHANNEL_NAMES } from "./limiter/index.js";
export type { AttemptOptions, HalfOpenLimiterOptions, LimitedConnectOptions, LimitedTlsConnectOptions, LimiterEvents, LimiterStats, LimitedDispatcherOptions, AttemptMessage, QueuedMessage, StartedMessage, EstablishedMessage, FailedMessage, LimitReachedMessage } from "./limiter/index.js";
