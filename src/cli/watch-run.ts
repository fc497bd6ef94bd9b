/**
 * What `halfopen watch` does once its options are parsed (watch.ts), loaded
 * only when it runs.
 */
import type { Server } from "node:http";
import { hostname } from "node:os";
import { parseDuration } from "../core/duration.js";
import type { ProcessInfo } from "../core/events.js";
import type { IncidentReport } from "../core/incident.js";
import { HalfOpenMonitor, type MonitorOutput, isOutput } from "../core/monitor.js";
import { ErrorCodes, HalfOpenError } from "../errors.js";
import { isAlive, readIdentity } from "../platform/process-identity.js";
import { openWatchSource } from "../platform/select.js";
import type { ConnectionSource } from "../platform/types.js";
import type { StoreWriter } from "../store/store-writer.js";
import type { RecordFile } from "./record-file.js";
import { VERSION } from "../version.js";
import { JsonLog } from "./json-log.js";
import { formatIncident, formatIncidentOpen, formatOsLimit, formatSummary, formatTotals, clock, seconds } from "./format-watch.js";
import { fit, forTerminal } from "./sanitize.js";
import type { WatchOptions } from "./watch.js";

function makeFilter(opts: WatchOptions): ((p: ProcessInfo) => boolean) | undefined {
  const pids = opts.pid && opts.pid.length > 0 ? new Set(opts.pid) : undefined;
  const comms = opts.comm && opts.comm.length > 0 ? new Set(opts.comm) : undefined;
  if (!pids && !comms) return undefined;
  return (p) => (pids ? pids.has(p.pid) : true) && (comms ? comms.has(p.name) : true);
}

/** Open the incident database for writing, or fail at start with a clear error. Loaded only when storing. */
async function openStore(opts: WatchOptions, retainMs: number | undefined, sourceName: string): Promise<StoreWriter> {
  const { IncidentStore, defaultDbPath } = await import("../store/incident-store.js");
  const { StoreWriter } = await import("../store/store-writer.js");
  const path = opts.db ?? defaultDbPath();
  // Only the default location is created; a path the user gave must be in a directory that exists.
  const createDirectory = opts.db === undefined && !process.env.HALFOPEN_DB;
  try {
    const store = IncidentStore.open({ path, createDirectory, retention: { maxAgeMs: retainMs ?? 30 * 86_400_000, maxBytes: opts.retainSize * 1024 * 1024 }, isRunAlive: isAlive });
    const other = store.liveRuns()[0];
    if (other) {
      store.close();
      throw new HalfOpenError(
        ErrorCodes.DB_IN_USE,
        `Cannot store incidents in ${path}: the watch with pid ${other.pid} (started ${new Date(other.startedAt).toISOString()}) already stores there, and both would store every incident; stop it, or give this one another --db`,
      );
    }
    const self = readIdentity(process.pid);
    return new StoreWriter(store, {
      startedAt: Date.now(),
      pid: process.pid,
      ...(self?.startTime === undefined ? {} : { pidStartTime: self.startTime }),
      hostname: hostname(),
      source: sourceName,
      limit: opts.limit,
      version: VERSION,
    });
  } catch (e) {
    if (e instanceof HalfOpenError) throw new HalfOpenError(e.code, `${e.message}; or watch with --no-store`, { cause: e });
    throw e;
  }
}

/**
 * Raise the soft limit of open files to the hard one (a flood of metrics
 * clients or sockets must not leave watch unable to read /proc). Returns a
 * note when that cannot be done.
 */
async function raiseFileLimit(): Promise<string | undefined> {
  if (process.platform !== "linux") return undefined;
  const { loadNative } = await import("../platform/linux/native.js");
  const helper = loadNative();
  if (!helper) return "the native helper is not built: the open-file limit stays as it is (ulimit -n)";
  try {
    helper.raiseNofileLimit();
    return undefined;
  } catch (e) {
    return `cannot raise the open-file limit: ${(e as Error).message}`;
  }
}

/**
 * Tell `onClosed` when stdout is a pipe whose reader has gone, even while
 * nothing is written (`--interval 0` on a quiet host): the native poll thread
 * sees POLLERR on a FIFO's write end, or end-of-file (POLLIN, POLLHUP) on a
 * socket whose peer closed (a parent's stdio pipe is a socket pair; nothing
 * reads from our stdout, so readable means closed). Returns a stop function.
 */
async function watchStdoutPipe(onClosed: () => void): Promise<() => void> {
  const { fstatSync } = await import("node:fs");
  let pipe: boolean;
  try {
    const st = fstatSync(1);
    pipe = st.isFIFO() || st.isSocket();
  } catch {
    return () => {};
  }
  if (!pipe || process.platform !== "linux") return () => {};
  const { loadNative } = await import("../platform/linux/native.js");
  const helper = loadNative();
  if (!helper) return () => {};
  const w = helper.watchReadable(Int32Array.of(1), onClosed);
  return () => w.stop();
}

/** `--replay FILE`: the recording as the source (no root, any OS). */
async function openReplay(path: string, speed: number): Promise<{ source: ConnectionSource; fallback?: string }> {
  const { ReplaySource } = await import("../platform/replay-source.js");
  const source = new ReplaySource({ path, speed });
  await source.start();
  return { source };
}

/** Run the monitor until SIGINT/SIGTERM or `--duration`. */
export async function runWatch(opts: WatchOptions): Promise<void> {
  const retainMs = opts.retain === undefined ? undefined : parseDuration("--retain", opts.retain);
  let outputError: NodeJS.ErrnoException | undefined;
  let stopSource = () => {};
  const outputFailed = (e: NodeJS.ErrnoException) => {
    outputError ??= e;
    stopSource();
  };
  const out = (line: string) => {
    if (outputError) return;
    process.stdout.write(`${line}\n`);
  };
  process.stdout.on("error", outputFailed);
  const fileLimitNote = await raiseFileLimit();
  const note = (message: string) => {
    if (opts.json) out(JSON.stringify({ type: "warning", message }));
    else out(`halfopen: note: ${forTerminal(message)}`);
  };
  const log = opts.logFile ? new JsonLog(opts.logFile, (m) => process.stderr.write(`halfopen: warning: ${m}\n`)) : undefined;
  /** A JSON record: to stdout with --json, and to the log file. */
  const json = (record: object) => {
    if (opts.json) out(JSON.stringify(record));
    log?.write(record);
  };
  const { source, fallback } = opts.replay
    ? await openReplay(opts.replay, opts.asFastAsPossible ? Number.POSITIVE_INFINITY : (opts.speed ?? 1))
    : await openWatchSource({
        ...(opts.source ? { source: opts.source } : {}),
        tracefs: opts.bufferKb ? { bufferKb: opts.bufferKb } : {},
        intervalMs: opts.poll * 1000,
      });
  let writer: StoreWriter | undefined;
  let server: Server | undefined;
  const wallOffsetMs = source.wallOffsetMs ?? Date.now() - source.now();
  let record: RecordFile | undefined;
  try {
    // A replay is stored only where --db says: it must not mix into this host's own history.
    writer = opts.store && (!opts.replay || opts.db !== undefined) ? await openStore(opts, retainMs, source.name) : undefined;
    if (opts.record) {
      const { RecordFile } = await import("./record-file.js");
      record = new RecordFile(opts.record, {
        source: source.name,
        exact: source.exact,
        wallOffsetMs,
        watch: { limit: opts.limit, quietMs: opts.quiet * 1000, maxAgeMs: opts.maxAge * 1000, ...(opts.pid ? { pid: opts.pid } : {}), ...(opts.comm ? { comm: opts.comm } : {}) },
      });
    }
  } catch (e) {
    source.stop();
    writer?.close();
    log?.close();
    throw e;
  }
  /** The core's clock advances: recorded (with the events before it), so a replay ticks at the same times. */
  const tick = (now: number) => {
    record?.tick(now);
    return monitor.tick(now);
  };
  const filter = makeFilter(opts);
  const monitor = new HalfOpenMonitor({
    limit: opts.limit,
    quietMs: opts.quiet * 1000,
    maxAgeMs: opts.maxAge * 1000,
    wallOffsetMs,
    ...(filter ? { filter } : {}),
  });
  if (opts.metricsPort !== undefined) {
    const { WatchMetrics, serveMetrics } = await import("../metrics/watch-metrics.js");
    const metrics = new WatchMetrics({
      monitor,
      source: source.name,
      mode: source.exact ? "exact" : "polling",
      topNames: opts.metricsTopNames,
      ...(writer ? { store: () => ({ failures: writer?.failures ?? 0, unstored: writer?.unstored ?? 0 }) } : {}),
    });
    try {
      server = await serveMetrics(metrics, opts.metricsHost, opts.metricsPort);
    } catch (e) {
      source.stop();
      writer?.close();
      log?.close();
      throw e;
    }
  }
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    source.stop();
  };
  stopSource = stop;
  if (outputError) stop();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  const onHup = () => log?.reopen();
  process.on("SIGHUP", onHup);
  const stopPipeWatch = await watchStdoutPipe(() => outputFailed(Object.assign(new Error("the reader of standard output closed it"), { code: "EPIPE" })));

  let lastSave = 0;
  /** Say which incidents that had waited for the database are stored now. */
  const reportLate = () => {
    for (const done of writer?.takeLate() ?? []) {
      json({ type: "stored", id: done.id, runIncident: done.report.id, state: done.report.state });
      if (!opts.json) out(`halfopen: note: incident ${done.report.id} of this run is stored now, as incident ${done.id}`);
    }
  };
  /** Store an incident (when storing) and return it with its database id, for printing. */
  const save = (incident: IncidentReport): { incident: IncidentReport; extra: Record<string, unknown>; problem?: string } => {
    if (!writer) return { incident, extra: {} };
    const result = writer.save(incident);
    reportLate();
    if (result.stored) return { incident: { ...incident, id: result.id }, extra: { runIncident: incident.id, stored: true } };
    const problem = result.firstOfKind ? `incident ${incident.id} was not stored: ${result.error.message} [${result.error.code}]; it is kept in memory and retried` : undefined;
    return { incident, extra: { runIncident: incident.id, stored: false, storeError: result.error.code }, ...(problem ? { problem } : {}) };
  };
  const emit = (outputs: MonitorOutput[]) => {
    for (const o of outputs) {
      if (isOutput(o, "lost")) {
        json({ ...o, timeWall: o.time + wallOffsetMs });
        if (!opts.json) out(`${clock(o.time + wallOffsetMs)} WARNING: ${o.count} events lost${o.cpu === undefined ? "" : ` on cpu ${o.cpu}`}; attempts may be missing or end as unknown`);
      } else if (isOutput(o, "blind")) {
        json({ ...o, timeWall: o.time + wallOffsetMs });
        if (!opts.json) {
          out(`${clock(o.time + wallOffsetMs)} WARNING: BLIND for up to ${seconds(o.durationMs)}: attempts in that time were not seen`);
          out(fit(`  ${forTerminal(o.reason)}`, 79));
        }
        else process.stderr.write(`halfopen: warning: blind for up to ${seconds(o.durationMs)}: ${forTerminal(o.reason)}\n`);
      } else if (isOutput(o, "os-limit")) {
        json({ type: "os-limit", ...o.record, time: o.time });
        if (!opts.json) out(formatOsLimit(o.record));
      } else if (isOutput(o, "incident-open") || isOutput(o, "incident")) {
        const { incident, extra, problem } = save(o.incident);
        if (o.type === "incident-open") lastSave = Date.now();
        json({ type: o.type, ...incident, ...extra, emittedAt: source.now() });
        if (!opts.json) out(o.type === "incident-open" ? formatIncidentOpen(incident) : formatIncident(incident));
        if (problem) {
          if (opts.json) json({ type: "warning", message: problem });
          else process.stderr.write(`halfopen: warning: ${forTerminal(problem)}\n`);
        }
      } else {
        // A finding of another detector: passed on as data.
        json({ ...o, timeWall: o.time + wallOffsetMs });
        if (!opts.json) out(fit(`${clock(o.time + wallOffsetMs)} ${forTerminal(o.type.toUpperCase())} ${forTerminal(JSON.stringify({ ...o, type: undefined, time: undefined }))}`, 79));
      }
    }
  };

  const metricsAt = server ? metricsUrl(opts.metricsHost, server) : undefined;
  json({ type: "start", source: source.name, ...(source.details ? { sourceDetails: source.details() } : {}), limit: opts.limit, quietMs: opts.quiet * 1000, pid: process.pid, time: source.now(), timeWall: Date.now(), ...(writer ? { db: writer.store.path, runId: writer.runId } : {}), ...(metricsAt ? { metrics: metricsAt } : {}) });
  if (fileLimitNote) note(fileLimitNote);
  if (opts.json) {
    if (fallback) json({ type: "warning", message: fallback });
    for (const c of source.caveats) json({ type: "warning", message: c });
  } else {
    if (fallback) out(`halfopen: note: ${forTerminal(fallback)}`);
    const doing = opts.replay ? "replaying recorded TCP connects" : `watching outbound TCP connects with ${source.name}`;
    out(`halfopen: ${doing}; limit ${opts.limit} half-open${filter ? " (filtered)" : ""}; Ctrl-C stops`);
    const seen = Number(source.details?.().seenAtStart ?? 0);
    if (seen > 0) out(`halfopen: ${seen} attempt${seen === 1 ? " was" : "s were"} already half-open at start; counted from now`);
    for (const c of source.caveats) out(`halfopen: note: ${forTerminal(c)}`);
    const notStoring = opts.replay && opts.store ? "not storing incidents (a replay is stored only with --db)" : "not storing incidents (--no-store)";
    out(`halfopen: ${writer ? `storing incidents in ${writer.store.path}` : notStoring}${metricsAt ? `; metrics at ${metricsAt}` : ""}`);
  }
  const warn = () => {
    for (const w of source.takeWarnings?.() ?? []) note(w);
  };

  // An open incident is saved again every 5 s, so a crash loses at most that much of it.
  const timers: NodeJS.Timeout[] = [];
  timers.push(
    setInterval(() => {
      emit(tick(source.now()));
      if (writer && Date.now() - lastSave >= 5000) {
        lastSave = Date.now();
        const open = monitor.openIncident;
        if (open) save(open);
        else {
          writer.retry();
          reportLate();
        }
      }
    }, 250),
  );
  if (opts.interval > 0) {
    // Each summary line covers the time since the previous one; the tick checkpoints the totals there.
    let lastSummary: number | undefined;
    timers.push(
      setInterval(() => {
        const now = source.now();
        emit(tick(now));
        const s = monitor.summary(now, lastSummary);
        lastSummary = now;
        json({ type: "summary", ...s, timeWall: s.time + wallOffsetMs });
        if (!opts.json) out(formatSummary(s, s.time + wallOffsetMs));
      }, opts.interval * 1000),
    );
  }
  if (opts.duration !== undefined) timers.push(setTimeout(stop, opts.duration * 1000));

  try {
    for await (const batch of source.events()) {
      record?.events(batch);
      for (const event of batch) emit(monitor.handle(event));
      emit(tick(source.now()));
      warn();
      if (record?.error) {
        note(record.error);
        record = undefined;
      }
    }
  } finally {
    for (const t of timers) clearInterval(t);
    process.off("SIGHUP", onHup);
    stopPipeWatch();
    server?.close();
    server?.closeAllConnections();
  }
  record?.end(source.now());
  emit(monitor.flush(source.now()));
  const totals = monitor.totals();
  const unstored = writer?.close() ?? [];
  json({ type: "stop", ...totals, source: source.stats(), time: source.now(), timeWall: Date.now(), ...(writer ? { unstored: unstored.length } : {}) });
  if (!opts.json) out(formatTotals(totals));
  log?.close();
  if (outputError) {
    throw new HalfOpenError(ErrorCodes.OUTPUT_FAILED, `Cannot write to standard output (${outputError.code ?? outputError.message}): ${outputError.code === "EPIPE" ? "the reader closed it" : outputError.message}; watch stopped${writer ? ", and the incidents so far are stored" : ""}`);
  }
  if (unstored.length > 0) {
    const ids = unstored.map((r) => r.id).join(", ");
    throw new HalfOpenError(ErrorCodes.DB_FAILED, `${unstored.length} incident${unstored.length === 1 ? " was" : "s were"} not stored in ${writer?.store.path} (run incident ${ids}); they were printed above`);
  }
}

/** The URL of the metrics server, with the port it really bound (`--metrics-port 0` picks one). */
function metricsUrl(metricsHost: string, server: Server): string {
  const host = metricsHost.includes(":") ? `[${metricsHost}]` : metricsHost;
  const address = server.address();
  return `http://${host}:${typeof address === "object" && address ? address.port : "?"}/metrics`;
}
