/**
 * Stored scans against a real SQLite file: a version 1 incident database
 * gains the scan tables and keeps its incidents; scans are listed newest
 * first, the previous scan of the same targets is found, a scan left running
 * by a dead process reads as interrupted, and retention deletes old scans
 * with their hosts.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { ScanSpec } from "../core/scan/journal.js";
import type { PortState } from "../core/scan/timing.js";
import type { HostResult } from "../core/scan/model.js";
import { proc } from "../../test/support/events.js";
import { makeIncident } from "../../test/support/incidents.js";
import { APPLICATION_ID, IncidentStore, MIGRATIONS, SCHEMA_VERSION } from "./incident-store.js";

const dir = mkdtempSync(join(tmpdir(), "halfopen-scans-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(dir, `scans${++n}.db`);
const T0 = Date.parse("2026-12-01T08:00:00Z");
const spec: ScanSpec = { targets: ["198.18.0.0/24"], exclude: [], ports: [22, 80], discovery: "auto", maxHalfOpen: 10, retries: 1 };
const host = (address: string, ports: Record<number, PortState>, status: "up" | "down" = "up"): HostResult => ({
  address,
  family: 4,
  status,
  reason: "echo-reply",
  ports: Object.entries(ports).map(([port, state]) => ({ port: Number(port), state, reason: "syn-ack" })),
  startedAt: T0,
  endedAt: T0 + 1,
});
const run = (pid = process.pid) => ({ startedAt: T0, pid, hostname: "lab", version: "test", spec });

test("a version 1 incident database is migrated: its incidents stay, scans can be stored", () => {
  const path = fresh();
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.exec(MIGRATIONS[0] ?? "");
  db.pragma(`application_id = ${APPLICATION_ID}`);
  db.pragma("user_version = 1");
  db.close();
  const old = IncidentStore.open({ path });
  const runId = old.beginRun({ startedAt: T0, pid: 1, hostname: "lab", source: "tracefs", limit: 10, version: "0" });
  old.saveIncident(runId, makeIncident(proc(4242, "scan"), 20, T0));
  assert.equal(old.schemaVersion, SCHEMA_VERSION);
  assert.ok(SCHEMA_VERSION >= 2);
  const scans = old.scans();
  const id = scans.begin(run());
  scans.addHosts(id, [host("198.18.0.7", { 22: "open", 80: "closed" }), host("198.18.0.8", {}, "down")]);
  scans.end(id, "done", T0 + 5000, { up: 1 });
  old.close();
  const ro = IncidentStore.open({ path, readonly: true });
  assert.equal(ro.count(), 1, "the incident is still there");
  const got = ro.scans().get(id);
  assert.deepEqual({ state: got?.state, up: got?.up, open: got?.open, spec: got?.spec, summary: got?.summary }, { state: "done", up: 1, open: 1, spec, summary: { up: 1 } });
  assert.deepEqual(
    ro.scans().hosts(id).map((h) => h.address),
    ["198.18.0.7"],
    "only hosts found up are stored",
  );
  ro.close();
});

test("the previous scan of the same targets and ports; newest first; running scans of dead processes read as interrupted; retention", () => {
  const store = IncidentStore.open({ path: fresh(), isRunAlive: (pid) => pid === process.pid });
  const scans = store.scans();
  const a = scans.begin(run());
  scans.end(a, "done", T0 + 1000, {});
  const other = scans.begin({ ...run(), spec: { ...spec, ports: [443] } });
  scans.end(other, "done", T0 + 2000, {});
  const dead = scans.begin(run(2_000_000_000));
  const live = scans.begin(run());
  assert.deepEqual(
    scans.list().map((s) => [s.id, s.state]),
    [
      [live, "running"],
      [dead, "interrupted"],
      [other, "done"],
      [a, "done"],
    ],
  );
  assert.equal(scans.previous(spec, live)?.id, dead, "an interrupted scan still counts (the diff knows it is partial)");
  assert.equal(scans.previous(spec, dead)?.id, a);
  assert.equal(scans.previous({ ...spec, retries: 3, maxHalfOpen: 50 }, dead)?.id, a, "the budget does not make it another scan");
  assert.equal(scans.previous({ ...spec, ports: [22] }), undefined);
  scans.addHosts(a, [host("198.18.0.7", { 22: "open" })]);
  assert.equal(scans.prune(T0 + 1500), 1, "the scan that ended before the cut-off");
  assert.equal(scans.get(a), undefined);
  assert.equal(scans.hosts(a).length, 0, "its hosts went with it");
  assert.ok(scans.get(other));
  store.close();
});
