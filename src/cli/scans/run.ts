/**
 * What `halfopen scans list`, `show` and `diff` do once their options are
 * parsed (command.ts), loaded only when they run.
 */
import { rowsOf } from "../options.js";
import { changeLine, coverageOf, diffScans } from "../../core/scan/diff.js";
import { specKey } from "../../core/scan/journal.js";
import { storedHostJson, storedScanTimes, storedSummaryJson } from "../../core/scan/model.js";
import type { ScanSpec } from "../../core/scan/journal.js";
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import { isAlive } from "../../platform/process-identity.js";
import type { HostResult } from "../../scanner/scan.js";
import type { IncidentStore } from "../../store/incident-store.js";
import type { StoredScan } from "../../store/scan-history.js";
import { cols, fit, forTerminal } from "../sanitize.js";
import { hostLines } from "../scan/run.js";
import type { ScansOptions } from "./command.js";

async function openReadOnly(db: string | undefined): Promise<IncidentStore> {
  const { IncidentStore, defaultDbPath } = await import("../../store/incident-store.js");
  return IncidentStore.open({ path: db ?? defaultDbPath(), readonly: true, isRunAlive: isAlive });
}

/** What a scan covered, short: targets and the options that change it. */
export function specText(spec: ScanSpec): string {
  const parts = [...spec.targets];
  if (spec.exclude.length > 0) parts.push(`--exclude ${spec.exclude.join(",")}`);
  parts.push(`-p ${spec.ports.join(",")}`);
  if (spec.discovery === "none") parts.push("-Pn");
  if (spec.shard) parts.push(`--shard ${spec.shard.index}/${spec.shard.count}`);
  return forTerminal(parts.join(" "));
}

const stamp = (t: number) => {
  const d = new Date(t);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
};

// startedAt/endedAt as ISO strings: one release more for older readers (docs/record-format.md, "Times in JSON").
const scanJson = (s: StoredScan) => ({ id: s.id, ...storedScanTimes(s), startedAt: new Date(s.startedAt).toISOString(), ...(s.endedAt === undefined ? {} : { endedAt: new Date(s.endedAt).toISOString() }), state: s.state, hostname: s.hostname, version: s.version, spec: s.spec, up: s.up, open: s.open, ...(s.summary ? { summary: storedSummaryJson(s.summary) } : {}) });

function found(store: IncidentStore, id: number): StoredScan {
  const s = store.scans().get(id);
  if (!s) throw new HalfOpenError(ErrorCodes.NOT_FOUND, `No scan ${id} in ${store.path} (halfopen scans lists them)`);
  return s;
}

export async function listScans(opts: ScansOptions): Promise<void> {
  const store = await openReadOnly(opts.db);
  try {
    const scans = store.scans().list(rowsOf(opts) > 0 ? { limit: rowsOf(opts) } : {});
    if (opts.json) {
      process.stdout.write(`${JSON.stringify({ scans: scans.map(scanJson) })}\n`);
      return;
    }
    if (scans.length === 0) {
      process.stdout.write(`No scans stored in ${store.path} yet.\n`);
      return;
    }
    const lines = [`${"ID".padStart(6)} ${"STARTED".padEnd(14)} ${"STATE".padEnd(11)} ${"UP".padStart(6)} ${"OPEN".padStart(5)} TARGETS`];
    for (const s of scans) lines.push(fit(`${String(s.id).padStart(6)} ${stamp(s.startedAt)} ${s.state.padEnd(11)} ${String(s.up).padStart(6)} ${String(s.open).padStart(5)} ${specText(s.spec)}`, cols()));
    process.stdout.write(`${lines.join("\n")}\n`);
  } finally {
    store.close();
  }
}

export async function showScan(id: number, opts: ScansOptions): Promise<void> {
  const store = await openReadOnly(opts.db);
  try {
    const s = found(store, id);
    const hosts = store.scans().hosts(id) as HostResult[];
    if (opts.json) {
      process.stdout.write(`${JSON.stringify({ type: "scan", ...scanJson(s), hosts: hosts.map(storedHostJson) })}\n`);
      return;
    }
    const lines = [fit(`scan #${s.id}: ${specText(s.spec)}`, cols()), `  ${stamp(s.startedAt)}, ${s.state}; ${s.up} up, ${s.open} open (only hosts found up are stored)`];
    for (const h of hosts) lines.push(...hostLines(h));
    process.stdout.write(`${lines.join("\n")}\n`);
  } finally {
    store.close();
  }
}

export async function diffStoredScans(fromId: number | undefined, toId: number | undefined, opts: ScansOptions): Promise<void> {
  const store = await openReadOnly(opts.db);
  try {
    const history = store.scans();
    let to: StoredScan | undefined;
    let from: StoredScan | undefined;
    if (fromId !== undefined && toId !== undefined) {
      from = found(store, fromId);
      to = found(store, toId);
    } else {
      // One id: the scan before it of the same targets; none: the latest scan and the one before it.
      to = fromId !== undefined ? found(store, fromId) : history.list({ limit: 1 })[0];
      if (!to) throw new HalfOpenError(ErrorCodes.NOT_FOUND, `No scans stored in ${store.path} yet`);
      from = history.previous(to.spec, to.id);
      if (!from) throw new HalfOpenError(ErrorCodes.NOT_FOUND, `No scan of the same targets and ports before scan ${to.id}; give two ids (halfopen scans lists them)`);
    }
    const fromHosts = history.hosts(from.id);
    const toHosts = history.hosts(to.id);
    // Scans of different targets: a host only one of them covered is neither up nor down in the other.
    const same = specKey(from.spec) === specKey(to.spec);
    const changes = diffScans(
      { hosts: fromHosts, ports: from.spec.ports, complete: from.state === "done", ...(same ? {} : { covers: coverageOf(from.spec, fromHosts) }) },
      { hosts: toHosts, ports: to.spec.ports, complete: to.state === "done", ...(same ? {} : { covers: coverageOf(to.spec, toHosts) }) },
    );
    if (opts.json) {
      process.stdout.write(`${JSON.stringify({ type: "diff", from: scanJson(from), to: scanJson(to), changes })}\n`);
      return;
    }
    const lines = [fit(`scan #${from.id} (${stamp(from.startedAt)}) -> scan #${to.id} (${stamp(to.startedAt)}): ${changes.length} change${changes.length === 1 ? "" : "s"}`, cols())];
    for (const which of [from, to]) if (which.state !== "done") lines.push(`  scan #${which.id} is ${which.state}: hosts it did not reach are not reported up or down`);
    lines.push(...changes.map((c) => fit(changeLine(c), cols())));
    process.stdout.write(`${lines.join("\n")}\n`);
  } finally {
    store.close();
  }
}
