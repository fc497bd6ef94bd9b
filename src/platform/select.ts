/**
 * The only place that looks at the OS to choose a connection source, by
 * feature detection: on Linux, the tracefs source when the tracepoint exists.
 * Other sources (/proc polling, Windows, macOS) are added here as they land.
 */
import { ErrorCodes, HalfOpenError } from "../errors.js";
import { TracefsSource, type TracefsSourceOptions } from "./linux/tracefs-source.js";
import type { ConnectionSource } from "./types.js";

export const SOURCE_NAMES = ["tracefs"] as const;
export type SourceName = (typeof SOURCE_NAMES)[number];

export interface SelectOptions {
  /** Force a source instead of detecting one. */
  source?: SourceName;
  tracefs?: TracefsSourceOptions;
}

/** The source to use on this machine. Throws HalfOpenError NO_SOURCE when none fits. */
export function selectSource(options: SelectOptions = {}): ConnectionSource {
  if (options.source === "tracefs" || (options.source === undefined && process.platform === "linux")) {
    return new TracefsSource(options.tracefs);
  }
  throw new HalfOpenError(
    ErrorCodes.NO_SOURCE,
    `Cannot watch connect attempts on platform "${process.platform}": only Linux (tracefs) is supported in this release`,
  );
}
