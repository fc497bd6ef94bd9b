/**
 * The only place that looks at the OS to choose a connection source, by
 * feature detection:
 *   - Linux: tracefs (live, exact) when it can be used, else /proc polling,
 *     saying once why and what polling misses;
 *   - Windows: PowerShell Get-NetTCPConnection (else netstat + tasklist),
 *     with Event 4226 from the System log;
 *   - macOS: lsof (else netstat -anv).
 * `--source` forces one. `ls` reads the socket table, so it uses the
 * polling readers only.
 */
import { ErrorCodes, HalfOpenError } from "../errors.js";
import { ProcfsReader } from "./linux/procfs-reader.js";
import { TracefsSource, type TracefsSourceOptions } from "./linux/tracefs-source.js";
import { MacosReader } from "./macos/macos-reader.js";
import { PollingSource, type SocketReader } from "./polling-source.js";
import type { ToolRunner } from "./tools.js";
import type { ConnectionSource } from "./types.js";
import { WindowsReader } from "./windows/windows-reader.js";

export const SOURCE_NAMES = ["tracefs", "procfs", "windows", "macos"] as const;
export type SourceName = (typeof SOURCE_NAMES)[number];

/** Snapshot readers (everything but tracefs). */
export type ReaderName = Exclude<SourceName, "tracefs">;

export interface SelectOptions {
  /** Force a source instead of detecting one. */
  source?: SourceName;
  tracefs?: TracefsSourceOptions;
  /** Poll interval of polling sources, ms. */
  intervalMs?: number;
  /** OS platform (tests). Default process.platform. */
  platform?: NodeJS.Platform;
  /** Tool runner for the Windows and macOS readers (tests). */
  run?: ToolRunner;
  /** Builds the tracefs source (tests). */
  makeTracefs?: (options: TracefsSourceOptions) => ConnectionSource;
  /** procfs root (tests). */
  procRoot?: string;
}

/** Errors after which `watch` falls back from tracefs to /proc polling. */
const TRACEFS_FALLBACK = new Set<string>([
  ErrorCodes.NEEDS_PRIVILEGES,
  ErrorCodes.TRACEFS_UNAVAILABLE,
  ErrorCodes.TRACEPOINT_MISSING,
  ErrorCodes.TRACEFS_FAILED,
]);

/** The default snapshot reader of a platform. */
export function defaultReaderName(platform: NodeJS.Platform = process.platform): ReaderName {
  if (platform === "linux") return "procfs";
  if (platform === "win32") return "windows";
  if (platform === "darwin") return "macos";
  throw new HalfOpenError(
    ErrorCodes.NO_SOURCE,
    `Cannot list connections on platform "${platform}": halfopen supports Linux, Windows and macOS`,
  );
}

/** A socket-table reader, for `ls` and for polling `watch`. */
export function makeReader(name: ReaderName, options: SelectOptions & { osEvents?: boolean } = {}): SocketReader {
  const run = options.run ? { run: options.run } : {};
  switch (name) {
    case "procfs":
      return new ProcfsReader(options.procRoot ? { procRoot: options.procRoot } : {});
    case "windows":
      return new WindowsReader({ ...run, osEvents: options.osEvents ?? false });
    case "macos":
      return new MacosReader(run);
  }
}

/** The reader `ls` uses: forced, or the platform's. tracefs cannot list existing sockets. */
export function selectReader(options: SelectOptions = {}): SocketReader {
  if (options.source === "tracefs") {
    throw new HalfOpenError(
      ErrorCodes.BAD_USAGE,
      'Cannot use --source "tracefs" with ls: tracefs sees attempts as they start, not the ones already open; use procfs (the default on Linux), or "halfopen watch"',
    );
  }
  return makeReader(options.source ?? defaultReaderName(options.platform), options);
}

/** A polling source over the named reader (Event 4226 included on Windows). */
function pollingSource(name: ReaderName, options: SelectOptions): PollingSource {
  return new PollingSource(makeReader(name, { ...options, osEvents: true }), options.intervalMs === undefined ? {} : { intervalMs: options.intervalMs });
}

export interface OpenedSource {
  source: ConnectionSource;
  /** Why the preferred source was not used, when watch fell back. */
  fallback?: string;
}

/** Start the source `watch` uses; on Linux, fall back from tracefs to /proc polling when tracefs cannot be used. */
export async function openWatchSource(options: SelectOptions = {}): Promise<OpenedSource> {
  const platform = options.platform ?? process.platform;
  const polling = (name: ReaderName) => pollingSource(name, options);
  const makeTracefs = options.makeTracefs ?? ((o: TracefsSourceOptions) => new TracefsSource(o));

  if (options.source !== undefined) {
    const source = options.source === "tracefs" ? makeTracefs(options.tracefs ?? {}) : polling(options.source);
    await source.start();
    return { source };
  }
  if (platform === "linux") {
    const tracefs = makeTracefs(options.tracefs ?? {});
    try {
      await tracefs.start();
      return { source: tracefs };
    } catch (e) {
      if (!(e instanceof HalfOpenError) || !TRACEFS_FALLBACK.has(e.code)) throw e;
      tracefs.stop();
      const source = polling("procfs");
      await source.start();
      return { source, fallback: `tracefs cannot be used (${e.message}); falling back to /proc polling` };
    }
  }
  const source = polling(defaultReaderName(platform));
  await source.start();
  return { source };
}

/**
 * The source to use, not started and without fallback: tracefs on Linux,
 * the platform's polling source elsewhere, or the one forced. Kept for API
 * compatibility; `openWatchSource` adds the Linux fallback.
 */
export function selectSource(options: SelectOptions = {}): ConnectionSource {
  const platform = options.platform ?? process.platform;
  if (options.source === "tracefs" || (options.source === undefined && platform === "linux")) {
    return (options.makeTracefs ?? ((o: TracefsSourceOptions) => new TracefsSource(o)))(options.tracefs ?? {});
  }
  return pollingSource(options.source ?? defaultReaderName(platform), options);
}
