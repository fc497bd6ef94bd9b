/**
 * halfopen/scanner: live hosts and open ports within a half-open budget.
 * Results come as an async iterator, one host at a time; an AbortSignal
 * stops the scan. See docs/scanner.md.
 *
 * @example
 * ```ts
 * import { scan } from "halfopen/scanner";
 * const controller = new AbortController();
 * const run = scan({ targets: ["127.0.0.1"], ports: "22,80,8000-8100", discovery: "none", maxHalfOpen: 10, signal: controller.signal });
 * for await (const host of run) console.log(host.address, host.status, host.ports.filter((p) => p.state === "open").map((p) => p.port));
 * console.log(run.summary().elapsedMs);
 * ```
 */
export { scan, resolveTargets, checkScanSize, DISCOVERY_PORTS, DEFAULT_MAX_HALF_OPEN, LARGE_SCAN, type Scan, type ScanOptions, type PreparedTargets, type ScanSummary, type HostResult, type PortResult } from "./scan.js";
export { DEFAULT_PORTS, TargetSet, parsePorts, parseTarget, parseShard, type AddressRange, type Shard, type TargetSpec } from "../core/scan/targets.js";
export { diffScans, changeLine, compareAddresses, type ScanChange, type ScanForDiff } from "../core/scan/diff.js";
export { NMAP_T3, RttEstimator, outcomeOf, type PortState, type RttOptions } from "../core/scan/timing.js";
export { HalfOpenError, ErrorCodes, type ErrorCode } from "../errors.js";
