/**
 * The sinks `halfopen watch` registers, in the order they open and see each
 * item (sink.ts). Adding a sink (the dashboard) is one line here. The store
 * comes first: it sets `storage` on incident findings for the printers.
 */
import type { Enforcer } from "../../core/enforce/enforcer.js";
import type { ProcessInfo } from "../../core/events.js";
import { type HalfOpenMonitor, type MonitorOutput, isOutput } from "../../core/monitor.js";
import type { ScanVerdictDetector } from "../../core/scan-detector.js";
import type { ConnectionSource } from "../../core/source.js";
import type { WatchOptions } from "./command.js";
import { HookSink } from "./hook-sink.js";
import { JsonStdoutSink, LogFileSink } from "./json-sink.js";
import { MetricsSink, type MetricsSinkOptions } from "./metrics-sink.js";
import { jsonRecords } from "./records.js";
import { RecordSink } from "./record-sink.js";
import type { Sink, WatchItem } from "./sink.js";
import type { WatchStdout } from "./stdout.js";
import { StoreSink } from "./store-sink.js";
import { TextSink } from "./text-sink.js";
import { UiSink } from "./ui-sink.js";

export interface SinkContext {
  opts: WatchOptions;
  source: ConnectionSource;
  monitor: HalfOpenMonitor;
  verdicts: ScanVerdictDetector;
  wallOffsetMs: number;
  retainMs: number;
  out: WatchStdout;
  publish: (item: WatchItem) => void;
  /** The process filter in force (the options', or a replay's recorded one). */
  filter?: (p: ProcessInfo) => boolean;
  /** `--enforce`'s enforcer, for the metrics. */
  enforcer?: Enforcer;
}

/** The process filters of the options, as a recording's header keeps them (and a replay reads them back). */
export function filtersOf(opts: Pick<WatchOptions, "pid" | "comm" | "unit" | "container" | "netns">): { pid?: number[]; comm?: string[]; unit?: string[]; container?: string[]; netns?: string[] } {
  return { ...(opts.pid?.length ? { pid: opts.pid } : {}), ...(opts.comm?.length ? { comm: opts.comm } : {}), ...(opts.unit?.length ? { unit: opts.unit } : {}), ...(opts.container?.length ? { container: opts.container } : {}), ...(opts.netns?.length ? { netns: opts.netns } : {}) };
}

/** Whether incidents are stored: a replay only where --db says, so it never mixes into this host's history. */
export function storing(opts: WatchOptions): boolean {
  return opts.store && (!opts.replay || opts.db !== undefined);
}

/** Why incidents are not stored, for the start line. */
export function notStoringReason(opts: WatchOptions): string {
  return opts.replay && opts.store ? "a replay is stored only with --db" : "--no-store";
}

function enforceMetrics(e: Enforcer): MetricsSinkOptions["enforce"] {
  return { limit: e.options.limit, counters: () => e.counters, takeWaits: () => e.takeWaits() };
}

export function watchSinks(ctx: SinkContext): Sink[] {
  const { opts, source, monitor, verdicts, wallOffsetMs, out, publish } = ctx;
  const hookTimeoutMs = opts.hookTimeout * 1000;
  /** The JSON record of a finding the hook wants (as `--json` prints it, with the database id). */
  const recordOf = (item: WatchItem, wanted: (o: MonitorOutput) => boolean) => (item.kind === "finding" && wanted(item.finding) ? jsonRecords(item, wallOffsetMs)[0] : undefined);
  const store = storing(opts)
    ? new StoreSink({ ...(opts.db === undefined ? {} : { db: opts.db }), retainMs: ctx.retainMs, retainSizeMiB: opts.retainSize, source: source.name, limit: opts.limit, monitor, publish })
    : undefined;
  const sinks: (Sink | undefined)[] = [
    store,
    opts.json ? new JsonStdoutSink(out, wallOffsetMs) : new TextSink(out, wallOffsetMs),
    opts.logFile ? new LogFileSink(opts.logFile, wallOffsetMs) : undefined,
    opts.metricsPort === undefined
      ? undefined
      : new MetricsSink({ host: opts.metricsHost, port: opts.metricsPort, topNames: opts.metricsTopNames, monitor, source, verdicts: () => verdicts.counts(), ...(store ? { store: () => store.stats() } : {}), ...(ctx.enforcer ? { enforce: enforceMetrics(ctx.enforcer) } : {}) }),
    opts.record
      ? new RecordSink({
          path: opts.record,
          header: {
            source: source.name,
            exact: source.exact,
            wallOffsetMs,
            watch: { limit: opts.limit, quietMs: opts.quiet * 1000, maxAgeMs: opts.maxAge * 1000, ...filtersOf(opts), ...(ctx.filter ? { filtered: true } : {}) },
          },
          publish,
          ...(ctx.filter ? { filter: ctx.filter } : {}),
        })
      : undefined,
    opts.ui
      ? new UiSink({ host: opts.uiHost, port: opts.uiPort, scans: opts.uiScans, readOnly: opts.uiReadOnly === true || (opts.uiAllowRemote === true && opts.uiActions !== true), ...(opts.uiTlsCert !== undefined && opts.uiTlsKey !== undefined ? { tlsFiles: { cert: opts.uiTlsCert, key: opts.uiTlsKey } } : {}), monitor, verdicts, wallOffsetMs, replay: opts.replay !== undefined, db: () => store?.path, publish })
      : undefined,
    opts.onIncident
      ? new HookSink({ option: "--on-incident", argv: opts.onIncident, timeoutMs: hookTimeoutMs, publish, select: (item) => recordOf(item, (o) => o.type === "incident-open" || o.type === "incident") })
      : undefined,
    opts.onVerdict
      ? new HookSink({ option: "--on-verdict", argv: opts.onVerdict, timeoutMs: hookTimeoutMs, publish, select: (item) => recordOf(item, (o) => isOutput(o, "verdict") && o.verdict === "scanner" && !o.trusted) })
      : undefined,
  ];
  return sinks.filter((s): s is Sink => s !== undefined);
}
