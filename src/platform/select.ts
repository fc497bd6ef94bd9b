/**
 * The only place that looks at the OS: `hostPlatform()` picks this OS's
 * implementation of what halfopen needs from it (host.ts; linux/host.ts,
 * windows/host.ts, macos/host.ts), and the connection source is chosen here
 * by feature detection:
 *   - Linux: tracefs (live, exact) when it can be used, else /proc polling,
 *     saying once why and what polling misses;
 *   - Windows: PowerShell Get-NetTCPConnection (else netstat + tasklist),
 *     with Event 4226 from the System log;
 *   - macOS: lsof (else netstat -anv).
 * `--source` forces one. `ls` reads the socket table, so it uses the
 * polling readers only.
 *
 * Each platform's modules are imported when chosen, so a command loads only
 * its own OS's code (it shows in `halfopen ls` start-up time).
 */
import { ErrorCodes, HalfOpenError } from "../errors.js";
import { TcpState } from "../core/tcp-state.js";
import type { SynSentSocket, TracefsSourceOptions } from "./linux/tracefs-source.js";
import type { InitialHolder } from "./linux/raw-tracer.js";
import type { PollingSource, SocketReader } from "./polling-source.js";
import { SOURCE_NAMES, type SourceName } from "./source-names.js";
import type { ToolRunner } from "./tools.js";
import type { CloseFilter, CloseResult } from "./socket-query.js";
import type { SocketRow } from "../core/socket-table.js";
import type { ProcessInfo } from "../core/events.js";
import type { ConnectionSource } from "./types.js";
import type { HostDiscovery, HostPlatform } from "./host.js";
import { linuxHost } from "./linux/host.js";
import { macosHost } from "./macos/host.js";
import { basicHost } from "./posix-host.js";
import { windowsHost } from "./windows/host.js";

export { SOURCE_NAMES, type SourceName };

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
  /**
   * Read a `watch --record` file instead of the system (no root, any OS):
   * its path, and how fast (1: as recorded, default; Infinity: no pauses).
   */
  replay?: { path: string; speed?: number };
}

/** Errors after which `watch` falls back from tracefs to /proc polling. */
const TRACEFS_FALLBACK = new Set<string>([
  ErrorCodes.NEEDS_PRIVILEGES,
  ErrorCodes.TRACEFS_UNAVAILABLE,
  ErrorCodes.TRACEPOINT_MISSING,
  ErrorCodes.TRACEFS_FAILED,
]);

/**
 * The host platform: what halfopen needs from this OS (host.ts), one
 * implementation per OS. The one place that asks which OS this is.
 */
export function hostPlatform(platform: NodeJS.Platform = process.platform): HostPlatform {
  switch (platform) {
    case "linux":
      return linuxHost;
    case "win32":
      return windowsHost;
    case "darwin":
      return macosHost;
    default:
      return {
        ...basicHost,
        os: platform,
        processGroups: true,
        readerName: () => {
          throw new HalfOpenError(ErrorCodes.NO_SOURCE, `Cannot list connections on platform "${platform}": halfopen supports Linux, Windows and macOS`);
        },
      };
  }
}

/** The default snapshot reader of a platform. */
export function defaultReaderName(platform: NodeJS.Platform = process.platform): ReaderName {
  return hostPlatform(platform).readerName();
}

/** A socket-table reader, for `ls` and for polling `watch`. */
export async function makeReader(name: ReaderName, options: SelectOptions & { osEvents?: boolean } = {}): Promise<SocketReader> {
  const run = options.run ? { run: options.run } : {};
  switch (name) {
    case "procfs": {
      const { ProcfsReader } = await import("./linux/procfs-reader.js");
      return new ProcfsReader(options.procRoot ? { procRoot: options.procRoot } : {});
    }
    case "windows": {
      const { WindowsReader } = await import("./windows/windows-reader.js");
      return new WindowsReader({ ...run, osEvents: options.osEvents ?? false });
    }
    case "macos": {
      const { MacosReader } = await import("./macos/macos-reader.js");
      return new MacosReader(run);
    }
  }
}

async function tracefsMaker(options: SelectOptions): Promise<(o: TracefsSourceOptions) => ConnectionSource> {
  if (options.makeTracefs) return options.makeTracefs;
  const { TracefsSource } = await import("./linux/tracefs-source.js");
  return (o) => new TracefsSource({ readSynSent: synSentReader(options.procRoot), readRawHolders: rawHolderReader(options.procRoot), ...o });
}

/** The raw and packet socket holders at start, as `ls` finds them (every network namespace). */
function rawHolderReader(procRoot?: string): () => Promise<InitialHolder[]> {
  return async () => {
    try {
      const reader = await makeReader("procfs", procRoot ? { procRoot } : {});
      const out: InitialHolder[] = [];
      for (const s of reader.rawSenders?.().senders ?? []) {
        const socket = s.sockets.find((k) => k.netns !== undefined);
        if (socket?.netns !== undefined) out.push({ pid: s.pid, netns: socket.netns, via: s.sockets.some((k) => k.kind === "raw") ? "raw" : "packet" });
      }
      return out;
    } catch {
      return [];
    }
  };
}

/**
 * What the tracefs source reads at start to count the attempts already
 * half-open: the procfs reader's table (every network namespace), SYN_SENT
 * rows with an owner. One reader serves both reads, so the second reuses the
 * first one's socket owners.
 */
function synSentReader(procRoot?: string): () => Promise<SynSentSocket[]> {
  let reader: SocketReader | undefined;
  return async () => {
    reader ??= await makeReader("procfs", procRoot ? { procRoot } : {});
    const { snapshot } = await reader.read(0);
    const out: SynSentSocket[] = [];
    for (const r of snapshot.rows) {
      if (r.state !== TcpState.SYN_SENT || r.pid === undefined) continue;
      out.push({ family: r.family, src: r.local, dst: r.remote, process: snapshot.processes.get(r.pid) ?? { pid: r.pid, name: "?", partial: true } });
    }
    return out;
  };
}

/** The reader `ls` uses: forced, or the platform's. tracefs cannot list existing sockets. */
export async function selectReader(options: SelectOptions = {}): Promise<SocketReader> {
  if (options.source === "tracefs") {
    throw new HalfOpenError(
      ErrorCodes.BAD_USAGE,
      'Cannot use --source "tracefs" with ls: tracefs sees attempts as they start, not the ones already open; use procfs (the default on Linux), or "halfopen watch"',
    );
  }
  return makeReader(options.source ?? defaultReaderName(options.platform), options);
}

/** A polling source over the named reader (Event 4226 included on Windows). */
async function pollingSource(name: ReaderName, options: SelectOptions): Promise<PollingSource> {
  const { PollingSource } = await import("./polling-source.js");
  return new PollingSource(await makeReader(name, { ...options, osEvents: true }), options.intervalMs === undefined ? {} : { intervalMs: options.intervalMs });
}

export interface OpenedSource {
  source: ConnectionSource;
  /** Why the preferred source was not used, when watch fell back. */
  fallback?: string;
}

/**
 * Start the source `watch` uses, the one way to open a source: a recording
 * when `replay` is given; else the forced `source`; else on Linux tracefs,
 * falling back to /proc polling when tracefs cannot be used, and the
 * platform's polling source elsewhere.
 */
export async function openWatchSource(options: SelectOptions = {}): Promise<OpenedSource> {
  const host = hostPlatform(options.platform);
  if (options.replay) {
    const { ReplaySource } = await import("./replay-source.js");
    const source = new ReplaySource(options.replay);
    await source.start();
    return { source };
  }
  const polling = (name: ReaderName) => pollingSource(name, options);
  const makeTracefs = async () => (await tracefsMaker(options))(options.tracefs ?? {});

  if (options.source !== undefined) {
    const source = options.source === "tracefs" ? await makeTracefs() : await polling(options.source);
    await source.start();
    return { source };
  }
  if (host.tracefs) {
    const tracefs = await makeTracefs();
    try {
      await tracefs.start();
      return { source: tracefs };
    } catch (e) {
      if (!(e instanceof HalfOpenError) || !TRACEFS_FALLBACK.has(e.code)) throw e;
      tracefs.stop();
      const source = await polling(host.readerName());
      await source.start();
      return { source, fallback: `tracefs cannot be used (${e.message}); falling back to /proc polling` };
    }
  }
  const source = await polling(host.readerName());
  await source.start();
  return { source };
}


export type { HostDiscovery, HostPlatform } from "./host.js";

/** The platform's host discovery: the native helper on Linux; undefined elsewhere, or when the helper is not built. */
export function loadHostDiscovery(platform: NodeJS.Platform = process.platform): Promise<HostDiscovery | undefined> {
  return hostPlatform(platform).loadHostDiscovery();
}

/** `watch --enforce`'s opener on this OS, or undefined where SYNs cannot be held. */
export function loadEnforcement(platform: NodeJS.Platform = process.platform): ReturnType<HostPlatform["loadEnforcement"]> {
  return hostPlatform(platform).loadEnforcement();
}

/** Whether a child process can lead a process group of its own, killed whole (POSIX; not Windows). */
export function hasProcessGroups(platform: NodeJS.Platform = process.platform): boolean {
  return hostPlatform(platform).processGroups;
}

/**
 * `halfopen close`: destroy the half-open sockets of `pid` (Linux only: the
 * kernel's socket destroy; linux/close-sockets.ts). `found`: the sockets the
 * user just confirmed, so the table is not read twice before acting.
 */
export function closeHalfOpen(pid: number, filter: CloseFilter = {}, found?: SocketRow[], platform: NodeJS.Platform = process.platform): Promise<CloseResult> {
  return hostPlatform(platform).closeHalfOpen(pid, filter, found);
}

/** What the OS says of a process now (user, command line), where the platform tells; undefined elsewhere. */
export function readProcessDetails(pid: number, platform: NodeJS.Platform = process.platform): Promise<ProcessInfo | undefined> {
  return hostPlatform(platform).readProcessDetails(pid);
}

/**
 * Raise the soft limit of open files to the hard one (a flood of clients or
 * sockets must not leave `watch` unable to read /proc). Returns a note when
 * that cannot be done; nothing where the platform has no such limit to raise.
 */
export function raiseFileLimit(platform: NodeJS.Platform = process.platform): Promise<string | undefined> {
  return hostPlatform(platform).raiseFileLimit();
}

/**
 * Call `onClosed` when standard output is a pipe or socket whose reader has
 * gone, even while nothing is written (`watch --interval 0` on a quiet host).
 * Linux with the native helper; elsewhere the first failed write tells.
 * Returns a stop function.
 */
export function watchStdoutClosed(onClosed: () => void, platform: NodeJS.Platform = process.platform): Promise<() => void> {
  return hostPlatform(platform).watchStdoutClosed(onClosed);
}
