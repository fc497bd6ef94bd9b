/**
 * What `halfopen incidents list` and `show` do once their options are parsed
 * (incidents.ts), loaded only when they run.
 */
import { rowsOf } from "../options.js";
import { parseTimePoint } from "../../core/duration.js";
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import { assertKillable } from "../../platform/actions.js";
import { isAlive } from "../../platform/process-identity.js";
import type { IncidentStore, StoredIncident } from "../../store/incident-store.js";
import { killConfirmed } from "../act/run.js";
import { formatIncidentCsv, formatIncidentList, formatIncidentShow } from "./format.js";
import type { ListOptions, ShowOptions } from "./command.js";

async function openReadOnly(db: string | undefined): Promise<IncidentStore> {
  const { IncidentStore, defaultDbPath } = await import("../../store/incident-store.js");
  return IncidentStore.open({ path: db ?? defaultDbPath(), readonly: true, isRunAlive: isAlive });
}

/** A stored incident as JSON: the report, with the database id in `id`. */
export function incidentJson(s: StoredIncident): object {
  return { ...s.report, id: s.id, state: s.state, runId: s.runId, runIncident: s.runIncident, hostname: s.hostname, source: s.source };
}

/** `halfopen incidents [list]`. */
export async function listIncidents(opts: ListOptions): Promise<void> {
  if (opts.json && opts.csv) throw new HalfOpenError(ErrorCodes.BAD_USAGE, "Cannot use --json and --csv together: choose one");
  const now = Date.now();
  const since = opts.since === undefined ? undefined : parseTimePoint("--since", opts.since, now);
  const until = opts.until === undefined ? undefined : parseTimePoint("--until", opts.until, now);
  if (since !== undefined && until !== undefined && since > until) {
    throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot use --since "${opts.since}" with --until "${opts.until}": the start is after the end`);
  }
  const store = await openReadOnly(opts.db);
  try {
    const list = store.list({
      ...(since === undefined ? {} : { since }),
      ...(until === undefined ? {} : { until }),
      ...(opts.comm ? { comm: opts.comm } : {}),
      ...(opts.pid ? { pid: opts.pid } : {}),
      ...(rowsOf(opts) > 0 ? { limit: rowsOf(opts) } : {}),
    });
    if (opts.json) process.stdout.write(`${JSON.stringify({ type: "incidents", db: store.path, incidents: list.map(incidentJson) })}\n`);
    else if (opts.csv) process.stdout.write(formatIncidentCsv(list));
    else process.stdout.write(`${formatIncidentList(list)}\n`);
  } finally {
    store.close();
  }
}

/** `halfopen incidents show ID [--kill]`. */
export async function showIncident(id: number, opts: ShowOptions): Promise<void> {
  const store = await openReadOnly(opts.db);
  let incident: StoredIncident | undefined;
  try {
    incident = store.get(id);
  } finally {
    store.close();
  }
  if (!incident) throw new HalfOpenError(ErrorCodes.NOT_FOUND, `No incident ${id} in ${store.path} ("halfopen incidents" lists them)`);
  if (opts.json) process.stdout.write(`${JSON.stringify(incidentJson(incident))}\n`);
  else process.stdout.write(`${formatIncidentShow(incident)}\n`);
  if (!opts.kill) return;
  const top = incident.report.processes.find((p) => !p.exited);
  if (!top) throw new HalfOpenError(ErrorCodes.NOT_FOUND, `Every process of incident ${id} has exited; nothing to end`);
  const target = assertKillable(top.pid, { name: top.name, ...(top.startTime === undefined ? {} : { startTime: top.startTime }) }, true);
  await killConfirmed(target, { yes: opts.yes ?? false, signal: opts.signal ?? "TERM", wait: opts.wait ?? 5, ...(opts.json ? { json: true } : {}) }, ` (top process of incident ${id}, peak ${top.peakHalfOpen} half-open)`);
}
