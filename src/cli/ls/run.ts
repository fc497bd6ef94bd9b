/**
 * What `halfopen ls` does once its options are parsed (ls.ts), loaded only
 * when it runs.
 */
import { attributionFilter } from "../../core/attribution.js";
import { groupByProcess } from "../../core/socket-table.js";
import { TcpState } from "../../core/tcp-state.js";
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import { selectReader } from "../../platform/select.js";
import { type LsRawSender, type LsReport, formatLsText, formatRawSendersText } from "./format.js";
import type { LsOptions } from "./command.js";
import { forTerminal } from "../sanitize.js";
import { existsSync } from "node:fs";
import { nameKey } from "../../core/name-map.js";

/** Read the table once and print it. */
export async function runLs(opts: LsOptions): Promise<void> {
  if (opts.json && opts.csv) throw new HalfOpenError(ErrorCodes.BAD_USAGE, "Cannot use --json and --csv together: choose one");
  const reader = await selectReader(opts.source ? { source: opts.source } : {});
  await reader.probe();
  const read = await reader.read(0, { allStates: opts.allStates ?? false });
  const { rows, processes, warnings } = read.snapshot;
  const hostHalfOpen = rows.filter((r) => r.state === TcpState.SYN_SENT).length;
  const pids = opts.pid && opts.pid.length > 0 ? new Set(opts.pid) : undefined;
  const comms = opts.comm && opts.comm.length > 0 ? new Set(opts.comm) : undefined;
  const where = attributionFilter({ ...(opts.unit ? { unit: opts.unit } : {}), ...(opts.container ? { container: opts.container } : {}), ...(opts.netns ? { netns: opts.netns } : {}) });
  const filtered = pids !== undefined || comms !== undefined || where !== undefined;
  // Filters select processes before grouping, so a unit's or container's row counts only what was selected.
  const keep = (pid: number | undefined): boolean => {
    if (pid === undefined) return false;
    const p = processes.get(pid);
    return (!pids || pids.has(pid)) && (!comms || (p !== undefined && comms.has(p.name))) && (!where || (p !== undefined && where(p)));
  };
  const selected = filtered ? rows.filter((r) => keep(r.pid)) : rows;
  const names = opts.names === false ? undefined : await openNames(opts.db);
  const groups = groupByProcess(selected, processes, { allStates: opts.allStates ?? false, sampleSize: opts.sample, by: opts.by, ...(names ? { nameOf: names.nameOf } : {}) });
  names?.close();
  const raw = reader.rawSenders?.();
  const rawSenders: LsRawSender[] | undefined = raw?.senders
    .filter((s) => (!pids || pids.has(s.pid)) && (!comms || comms.has(s.process.name)) && (!where || where(s.process)))
    .map((s) => ({
      pid: s.pid,
      name: s.process.name,
      ...(s.process.user === undefined ? {} : { user: s.process.user }),
      ...(s.process.uid === undefined ? {} : { uid: s.process.uid }),
      ...(s.process.cmdline ? { cmdline: s.process.cmdline } : {}),
      ...(s.process.unit === undefined ? {} : { unit: s.process.unit }),
      ...(s.process.container ? { container: `${s.process.container.runtime} ${s.process.container.shortId}` } : {}),
      ...(s.process.netnsName === undefined ? {} : { netnsName: s.process.netnsName }),
      sockets: s.sockets,
    }));
  const report: LsReport = {
    type: "ls",
    source: reader.name,
    ...(reader.method ? { method: reader.method } : {}),
    timeWall: Date.now(),
    allStates: opts.allStates ?? false,
    hostHalfOpen,
    sockets: groups.reduce((n, g) => n + g.total, 0),
    halfOpen: groups.reduce((n, g) => n + g.halfOpen, 0),
    filtered,
    by: opts.by,
    processes: groups,
    ...(rawSenders ? { rawSenders } : {}),
    warnings: [...reader.caveats, ...warnings, ...(raw?.warnings ?? []), ...(names?.warning ? [names.warning] : [])],
  };
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return;
  }
  if (opts.csv) {
    const { formatLsCsv } = await import("./csv.js");
    process.stdout.write(formatLsCsv(report));
  } else {
    process.stdout.write(`${formatLsText(report)}\n`);
    if (rawSenders && rawSenders.length > 0) process.stdout.write(`${formatRawSendersText(rawSenders)}\n`);
  }
  for (const w of report.warnings) process.stderr.write(`halfopen: note: ${forTerminal(w)}\n`);
}

/**
 * The names a running watch copied into its database (store-sink.ts). The
 * default database missing or unreadable means no names, quietly; one named
 * with --db that cannot be read is said.
 */
async function openNames(db: string | undefined): Promise<{ nameOf: (netns: number | undefined, address: string) => string | undefined; close(): void; warning?: string } | undefined> {
  const { IncidentStore, defaultDbPath } = await import("../../store/incident-store.js");
  const path = db ?? defaultDbPath();
  if (db === undefined && !existsSync(path)) return undefined;
  try {
    const store = IncidentStore.open({ path, readonly: true });
    const now = Date.now();
    return { nameOf: (netns, address) => store.names([nameKey(netns, address)], now).values().next().value, close: () => store.close() };
  } catch (e) {
    if (db === undefined) return undefined;
    return { nameOf: () => undefined, close: () => {}, warning: `names: ${e instanceof HalfOpenError ? `${e.message} [${e.code}]` : String(e)}; remotes are shown by address` };
  }
}
