/**
 * The records of `halfopen watch --json` (docs/watch.md), as one union: the
 * JSON lines, the `--log-file`, the hooks' standard input and the
 * dashboard's event stream all carry these, built by one function
 * (cli/watch/records.ts: jsonRecords) and read by the dashboard's model and
 * page (web/app.js checks its reads against these types with `// @ts-check`),
 * so renaming a field breaks the build. Pure types.
 */
import type { EnforceStart, EnforceStop } from "./enforce/types.js";
import type { IncidentReport, OsLimitRecord } from "./incident.js";
import type { MonitorSummary, MonitorTotals } from "./monitor.js";
import type { VerdictFinding } from "./scan-detector.js";
import type { SourceStats } from "./source.js";

/** The first record: what is watched, how, and where things go. `ui` is the dashboard's address, without its token. */
export interface StartRecord {
  type: "start";
  source: string;
  sourceDetails?: Record<string, string | number | boolean>;
  limit: number;
  quietMs: number;
  pid: number;
  /** Monotonic ms (the source's clock), and wall ms. */
  time: number;
  timeWall: number;
  db?: string;
  runId?: number;
  metrics?: string;
  ui?: string;
  /** Set by the dashboard: the run is a replay. */
  replay?: boolean;
  /** `--enforce`: the limit held, and how. */
  enforce?: EnforceStart;
}

/** An incident as it opens (`incident-open`) and when it closes (`incident`), with where it was stored. */
type IncidentFields = IncidentReport & {
  runIncident?: number;
  stored?: boolean;
  storeError?: string;
  emittedAt: number;
};
export type IncidentOpenRecord = { type: "incident-open" } & IncidentFields;
export type IncidentClosedRecord = { type: "incident" } & IncidentFields;
export type IncidentRecord = IncidentOpenRecord | IncidentClosedRecord;

export type VerdictRecord = VerdictFinding & { timeWall: number };

export interface LostRecord {
  type: "lost";
  time: number;
  timeWall: number;
  count: number;
  cpu?: number;
}

export interface BlindRecord {
  type: "blind";
  time: number;
  timeWall: number;
  since: number;
  durationMs: number;
  reason: string;
  ongoing?: boolean;
}

export type OsLimitEventRecord = { type: "os-limit"; time: number } & OsLimitRecord;

export type SummaryRecord = { type: "summary"; timeWall: number } & MonitorSummary;

export interface WarningRecord {
  type: "warning";
  message: string;
}

export interface StoredRecord {
  type: "stored";
  id: number;
  runIncident: number;
  state: "open" | "closed" | "interrupted";
}

export type StopRecord = { type: "stop"; verdicts: { scanner: number; benign: number; trustedScanner: number }; source: SourceStats; time: number; timeWall: number; unstored?: number; enforce?: EnforceStop } & MonitorTotals;

/** A finding of a detector this build does not know: passed on as data. */
export interface OtherFindingRecord {
  type: string;
  time: number;
  timeWall: number;
  [field: string]: unknown;
}

export type WatchRecord = StartRecord | IncidentRecord | VerdictRecord | LostRecord | BlindRecord | OsLimitEventRecord | SummaryRecord | WarningRecord | StoredRecord | StopRecord;
