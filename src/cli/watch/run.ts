/**
 * What `halfopen watch` does once its options are parsed (command.ts),
 * loaded only when it runs. Plain wiring: a source (the system's, or a
 * recording), the pure core (HalfOpenMonitor and its detectors), and the
 * sinks of sinks.ts, fed in order by a SinkChain (sink.ts), with one cleanup
 * on every exit path: SIGINT/SIGTERM, --duration, an error at start or
 * while running, a closed stdout.
 */
import type { ConnectionSource } from "../../core/source.js";
import { attributionFilter } from "../../core/attribution.js";
import { parseDuration } from "../../core/duration.js";
import type { ProcessInfo } from "../../core/events.js";
import type { Detector } from "../../core/detector.js";
import { HalfOpenMonitor, type MonitorOutput } from "../../core/monitor.js";
import { ScanVerdictDetector, trustList } from "../../core/scan-detector.js";
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import { openWatchSource, raiseFileLimit } from "../../platform/select.js";
import type { TracefsSourceOptions } from "../../platform/linux/tracefs-source.js";
import type { WatchOptions } from "./command.js";
import { type Sink, SinkChain, type StartFacts, type WatchItem } from "./sink.js";
import { filtersOf, notStoringReason, watchSinks } from "./sinks.js";
import { WatchStdout } from "./stdout.js";
import { StoreSink } from "./store-sink.js";

/** Closed incidents older than this go, unless --retain says otherwise. */
const DEFAULT_RETAIN_MS = 30 * 86_400_000;
/** How often the core's clock advances while no events come (incidents close, attempts expire). */
const TICK_MS = 250;
/**
 * ...and while nothing waits on time (no attempt half-open, no incident open, no verdict deadline: monitor.quiet),
 * live, with no sink that samples on the tick (the dashboard, a recording's clock lines, enforcement): an idle
 * watch wakes twice a second instead of five times. The first event after it brings the 250 ms tick back at once.
 */
const QUIET_TICK_MS = 1000;
/** A batch of events ticks the clock when the last tick is at least this old (source time). */
const BATCH_TICK_MS = 10;

/** The clock's tick: every TICK_MS, or QUIET_TICK_MS while `rest()` says nothing waits on time; `afterBatch()` after each batch. */
class Ticker {
  #timer?: NodeJS.Timeout;
  #delay = 0;
  #stopped = false;
  #last = Number.NEGATIVE_INFINITY;
  constructor(
    readonly onTick: (now: number) => void,
    readonly clock: () => number,
    readonly rest: () => boolean,
    /** How old the last tick must be for a batch to tick: BATCH_TICK_MS, or 0 for a replay (each batch is a recorded tick). */
    readonly batchTickMs = BATCH_TICK_MS,
  ) {}

  tickAt(now: number): void {
    this.#last = now;
    this.onTick(now);
  }

  tick(): void {
    this.tickAt(this.clock());
  }

  /**
   * After a batch of events: a tick when the last is BATCH_TICK_MS old, so time-driven findings (an incident's quiet
   * close, verdict deadlines) come within that of due (under a flood batches come every few ms, and a tick for each
   * was a fixed cost per read); then the next tick is planned.
   */
  afterBatch(): void {
    const now = this.clock();
    if (now - this.#last >= this.batchTickMs) this.tickAt(now);
    this.plan();
  }

  plan(): void {
    const delay = this.rest() ? QUIET_TICK_MS : TICK_MS;
    // A sooner tick already planned stays; a later one gives way.
    if (this.#stopped || (this.#timer && delay >= this.#delay)) return;
    clearTimeout(this.#timer);
    this.#delay = delay;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.tick();
      this.plan();
    }, delay);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }
}

/** `--pid`, `--comm`, `--unit`, `--container`, `--netns`: applied before the limit, like the monitor's own table. */
function makeFilter(opts: WatchOptions): ((p: ProcessInfo) => boolean) | undefined {
  const pids = opts.pid && opts.pid.length > 0 ? new Set(opts.pid) : undefined;
  const comms = opts.comm && opts.comm.length > 0 ? new Set(opts.comm) : undefined;
  const where = attributionFilter({ ...(opts.unit ? { unit: opts.unit } : {}), ...(opts.container ? { container: opts.container } : {}), ...(opts.netns ? { netns: opts.netns } : {}) });
  if (!pids && !comms && !where) return undefined;
  return (p) => (pids ? pids.has(p.pid) : true) && (comms ? comms.has(p.name) : true) && (where ? where(p) : true);
}

/** The process filter: the options', or, for a replay given none, the filters the recording was made with. */
function watchFilter(opts: WatchOptions, source: ConnectionSource): { filter: ((p: ProcessInfo) => boolean) | undefined; recorded: ReturnType<typeof filtersOf> | undefined } {
  const recorded = opts.replay && Object.keys(filtersOf(opts)).length === 0 ? recordedFilters(source) : undefined;
  return { filter: makeFilter(recorded ? { ...opts, ...recorded } : opts), recorded };
}

/** The filters a recording's header says were in force, checked (a header is input from anywhere). */
function recordedFilters(source: ConnectionSource): ReturnType<typeof filtersOf> | undefined {
  const watch = (source as { header?: { watch?: Record<string, unknown> } }).header?.watch;
  if (!watch) return undefined;
  const strings = (v: unknown) => (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === "string") ? (v as string[]) : undefined);
  const pids = Array.isArray(watch.pid) && watch.pid.length > 0 && watch.pid.every((x) => Number.isSafeInteger(x)) ? (watch.pid as number[]) : undefined;
  const out = filtersOf({ ...(pids ? { pid: pids } : {}), ...(strings(watch.comm) ? { comm: strings(watch.comm) } : {}), ...(strings(watch.unit) ? { unit: strings(watch.unit) } : {}), ...(strings(watch.container) ? { container: strings(watch.container) } : {}), ...(strings(watch.netns) ? { netns: strings(watch.netns) } : {}) });
  return Object.keys(out).length > 0 ? out : undefined;
}

export interface RunWatchExtras {
  /** Sinks registered after watch's own (tests: a sink that fails at start). */
  sinks?: Sink[];
}

/** The tracefs source's options from watch's. */
function tracefsOptions(opts: WatchOptions): TracefsSourceOptions {
  return {
    ...(opts.bufferKb ? { bufferKb: opts.bufferKb } : {}),
    ...(opts.rawSenders === false ? { raw: false } : {}),
    ...(opts.dns === false ? { dns: false } : {}),
    ...(opts.rawAnswer !== undefined ? { rawAnswerMs: opts.rawAnswer * 1000 } : {}),
  };
}

/** --enforce: the enforcer is a detector (it learns who each attempt is and when it ends) and a sink (it holds the queue). */
async function enforceSink(opts: WatchOptions, source: ConnectionSource, publish: (item: WatchItem) => void, trusted: ((p: ProcessInfo) => boolean) | undefined) {
  if (opts.enforce === undefined) return undefined;
  const { EnforceSink } = await import("./enforce-sink.js");
  return new EnforceSink({ opts, now: () => source.now(), publish, ...(trusted ? { trusted } : {}) });
}

/** The monitor, with watch's limit, quiet time, age limit and filter, and its detectors after the limit detector. */
function watchMonitor(opts: WatchOptions, wallOffsetMs: number, filter: ((p: ProcessInfo) => boolean) | undefined, detectors: Detector[]): HalfOpenMonitor {
  return new HalfOpenMonitor({ limit: opts.limit, quietMs: opts.quiet * 1000, maxAgeMs: opts.maxAge * 1000, wallOffsetMs, ...(filter ? { filter } : {}), detectors });
}

/** Run the monitor until SIGINT/SIGTERM, `--duration`, the end of a replay, or a closed stdout. */
export async function runWatch(opts: WatchOptions, extras: RunWatchExtras = {}): Promise<void> {
  const retainMs = opts.retain === undefined ? DEFAULT_RETAIN_MS : parseDuration("--retain", opts.retain);
  const out = new WatchStdout();
  const fileLimitNote = await raiseFileLimit();
  const { source, fallback } = await openWatchSource({
    ...(opts.replay ? { replay: { path: opts.replay, speed: opts.asFastAsPossible ? Number.POSITIVE_INFINITY : (opts.speed ?? 1) } } : {}),
    ...(opts.source ? { source: opts.source } : {}),
    tracefs: tracefsOptions(opts),
    intervalMs: opts.poll * 1000,
  });
  const wallOffsetMs = source.wallOffsetMs ?? Date.now() - source.now();
  const { filter, recorded } = watchFilter(opts, source);
  const trusted = trustList(opts.trust ?? []);
  const verdicts = new ScanVerdictDetector({ firstContactBy: opts.firstContactBy, ...(trusted ? { trusted } : {}) });
  const publish = (item: WatchItem) => chain.publish(item);
  const enforce = await enforceSink(opts, source, publish, trusted);
  const monitor = watchMonitor(opts, wallOffsetMs, filter, [verdicts, ...(enforce ? [enforce.enforcer] : [])]);
  const sinks = [...watchSinks({ opts, source, monitor, verdicts, wallOffsetMs, retainMs, out, publish, ...(filter ? { filter } : {}), ...(enforce ? { enforcer: enforce.enforcer } : {}) }), ...(enforce ? [enforce] : []), ...(extras.sinks ?? [])];
  const chain = new SinkChain(sinks);
  let facts: StartFacts;
  try {
    facts = await chain.open();
  } catch (e) {
    source.stop();
    out.close();
    throw e;
  }

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    source.stop();
  };
  const timers: NodeJS.Timeout[] = [];
  let ticker: Ticker | undefined;
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    await out.watch(stop);
    publish({
      kind: "start",
      source,
      replay: opts.replay !== undefined,
      limit: opts.limit,
      quietMs: opts.quiet * 1000,
      filtered: filter !== undefined,
      ...(fallback ? { fallback } : {}),
      time: source.now(),
      timeWall: Date.now(),
      ...(facts.db ? {} : { notStoring: notStoringReason(opts) }),
      ...facts,
    });
    if (fileLimitNote) publish({ kind: "warning", level: "note", message: fileLimitNote });
    if (recorded) publish({ kind: "warning", level: "note", message: `replaying with the filters the recording was made with: ${Object.entries(recorded).map(([k, v]) => `--${k} ${(v as (string | number)[]).join(",")}`).join(" ")} (give filters to replace them)` });
    const unavailable = sinks.find((s): s is StoreSink => s instanceof StoreSink)?.unavailable;
    if (unavailable) publish({ kind: "warning", level: "warning", message: unavailable });

    const emit = (outputs: readonly MonitorOutput[]) => {
      if (outputs.length === 0) return;
      const emittedAt = source.now();
      for (const finding of outputs) publish({ kind: "finding", finding, emittedAt });
    };
    // The pace after each batch and each tick: an incident that closes on a tick makes the next reads prompt at once.
    const pace = pacer(source, monitor, enforce !== undefined);
    /** The core's clock advances; then the sinks' (the recording writes the tick, the store saves); then the pace. */
    const tick = (now: number) => {
      emit(monitor.tick(now));
      chain.tick(now);
      pace();
    };
    const warnings = sourceNotes(source, publish);

    const mayRest = !opts.ui && !opts.record && !opts.replay && !enforce;
    // A replay's batches are the recorded ticks: each one ticks, so the clock advances as it did live.
    ticker = new Ticker(tick, () => source.now(), () => mayRest && monitor.quiet, opts.replay ? 0 : BATCH_TICK_MS);
    ticker.plan();
    if (opts.interval > 0) {
      // Each summary covers the time since the previous one; the tick checkpoints the totals there.
      let lastSummary: number | undefined;
      timers.push(
        setInterval(() => {
          const now = source.now();
          ticker?.tickAt(now);
          const summary = monitor.summary(now, lastSummary);
          lastSummary = now;
          publish({ kind: "summary", summary });
        }, opts.interval * 1000),
      );
    }
    if (opts.duration !== undefined) timers.push(setTimeout(stop, opts.duration * 1000));

    for await (const batch of source.events()) {
      chain.events(batch);
      for (const event of batch) emit(monitor.handle(event));
      pace();
      ticker.afterBatch();
      warnings();
    }
    warnings(); // what the source said after its last batch (a replay's torn last line)
    const now = source.now();
    emit(monitor.flush(now));
    const finished = await chain.finish(now);
    publish({ kind: "stop", totals: monitor.totals(), verdicts: verdicts.counts(), sourceStats: source.stats(), time: now, timeWall: Date.now(), ...finished });
  } finally {
    for (const t of timers) clearTimeout(t);
    ticker?.stop();
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    out.close();
    source.stop();
    chain.close();
  }

  throwIfLost(out, sinks);
}

/**
 * The source's pace (ConnectionSource.setPace), set after each batch and each tick: relaxed while an incident is open
 * (nothing waits on the next events but counts), prompt otherwise. --enforce holds SYNs until their attempts are read:
 * always prompt.
 */
function pacer(source: ConnectionSource, monitor: HalfOpenMonitor, enforcing: boolean): () => void {
  const setPace = enforcing ? undefined : source.setPace?.bind(source);
  if (!setPace) return () => {};
  return () => setPace(monitor.limitDetector.openId === undefined ? "prompt" : "relaxed");
}

/** What the source said since the last call, as note lines (a replay's torn last line, a fallback). */
function sourceNotes(source: ConnectionSource, publish: (item: WatchItem) => void): () => void {
  let read = 0;
  return () => {
    const got = source.warnings?.(read);
    if (!got) return;
    read = got.next;
    for (const message of got.notes) publish({ kind: "warning", level: "note", message });
  };
}

/** After the run: a failed standard output, or incidents that could never be stored, as the run's error. */
function throwIfLost(out: WatchStdout, sinks: readonly Sink[]): void {
  const store = sinks.find((s): s is StoreSink => s instanceof StoreSink);
  if (out.error) {
    const e = out.error;
    throw new HalfOpenError(ErrorCodes.OUTPUT_FAILED, `Cannot write to standard output (${e.code ?? e.message}): ${e.code === "EPIPE" ? "the reader closed it" : e.message}; watch stopped${store ? ", and the incidents so far are stored" : ""}`);
  }
  if (store && store.unstored.length > 0) {
    const ids = store.unstored.map((r) => r.id).join(", ");
    const n = store.unstored.length;
    throw new HalfOpenError(ErrorCodes.DB_FAILED, `${n} incident${n === 1 ? " was" : "s were"} not stored in ${store.path} (run incident ${ids}); they were printed above`);
  }
}
