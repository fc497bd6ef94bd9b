/** Real incident reports, produced by the monitor from synthetic events. */
import type { IncidentReport } from "../../src/core/incident.js";
import { HalfOpenMonitor, isOutput } from "../../src/core/monitor.js";
import type { ProcessInfo } from "../../src/core/events.js";
import { burst, closed } from "./events.js";

/**
 * One closed incident: `n` half-open attempts by `process` (limit 10),
 * started at wall time `wallMs`, all closed by the process 100 ms later.
 */
export function makeIncident(process: ProcessInfo, n: number, wallMs: number): IncidentReport {
  const monitor = new HalfOpenMonitor({ limit: 10, quietMs: 0, wallOffsetMs: wallMs });
  const events = burst(0, process, n);
  for (const e of events) monitor.handle(e);
  for (const e of events) monitor.handle(closed(100, e.sock, false));
  const out = monitor.tick(100);
  const report = out.find((o) => isOutput(o, "incident"));
  if (!report || !isOutput(report, "incident")) throw new Error(`no incident from ${n} attempts`);
  return report.incident;
}
