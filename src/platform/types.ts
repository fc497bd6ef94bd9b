/** The source contract lives in the core (core/source.ts); platform code imports it from here too. */
export type { ConnectionSource, SourceStats } from "../core/source.js";
