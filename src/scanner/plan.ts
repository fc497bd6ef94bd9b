/**
 * The plan step of a scan, shared by `halfopen scan` and the dashboard:
 * a spec's targets parsed and resolved (names looked up once), its ports
 * checked, and its size held to the large-scan bound unless confirmed.
 * Throws HalfOpenError: BAD_TARGET, NEEDS_CONFIRMATION.
 */
import type { ScanSpec } from "../core/scan/model.js";
import { ErrorCodes, HalfOpenError } from "../errors.js";
import { checkScanSize, resolveTargets, type PreparedTargets } from "./scan.js";

export interface ScanPlan {
  prepared: PreparedTargets;
  /** Addresses in the scan (its shard). */
  total: number;
}

export async function planScan(spec: ScanSpec, options: { yes: boolean; resolve?: (name: string) => Promise<string[]> }): Promise<ScanPlan> {
  for (const p of spec.ports) if (!(Number.isInteger(p) && p >= 1 && p <= 65535)) throw new HalfOpenError(ErrorCodes.BAD_TARGET, `Cannot scan port "${p}": ports are 1 to 65535`);
  // No ports: discovery only (-sn), which needs discovery.
  if (spec.ports.length === 0 && spec.discovery === "none") throw new HalfOpenError(ErrorCodes.BAD_TARGET, "Cannot scan no ports without discovery: that finds nothing (-sn with -Pn)");
  const prepared = await resolveTargets({ targets: spec.targets, exclude: spec.exclude, ...(options.resolve ? { resolve: options.resolve } : {}) });
  return { prepared, total: checkScanSize(prepared, spec.shard, options.yes) };
}
