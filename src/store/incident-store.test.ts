/**
 * The incident database against a real SQLite file (better-sqlite3), in a
 * temporary directory: migrations, refusals that leave foreign files alone,
 * filters, updates that keep the id, retention, and reading while writing.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import Database from "better-sqlite3";
import { HalfOpenError } from "../errors.js";
import { proc } from "../../test/support/events.js";
import { makeIncident } from "../../test/support/incidents.js";
import { APPLICATION_ID, IncidentStore, MAX_STORED_NAMES, SCHEMA_VERSION, defaultDbPath } from "./incident-store.js";
import { StoreWriter } from "./store-writer.js";

const dir = mkdtempSync(join(tmpdir(), "halfopen-store-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshPath = () => join(dir, `db${++n}`, "incidents.db");
/** A path in a new, existing directory (a path the user gives must have one). */
const fresh = () => {
  const path = freshPath();
  mkdirSync(dirname(path));
  return path;
};
const T0 = Date.parse("2026-11-20T08:00:00Z");
const RUN = { startedAt: T0, pid: 4242, hostname: "lab", source: "tracefs", limit: 10, version: "test" };

function code(e: unknown): string {
  return e instanceof HalfOpenError ? e.code : `not a HalfOpenError: ${String(e)}`;
}

test("a new database is created with its directory, in WAL mode, marked as ours, at the newest schema", () => {
  const path = freshPath();
  const store = IncidentStore.open({ path, createDirectory: true });
  assert.equal(store.schemaVersion, SCHEMA_VERSION);
  store.close();
  const db = new Database(path, { readonly: true });
  assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
  assert.equal(db.pragma("application_id", { simple: true }), APPLICATION_ID);
  assert.equal(db.pragma("auto_vacuum", { simple: true }), 2, "incremental");
  db.close();
  assert.equal(statSync(join(path, "..")).mode & 0o777, 0o700, "the directory is private: records hold command lines");
  // Opening again migrates nothing and keeps the data.
  const again = IncidentStore.open({ path });
  assert.equal(again.count(), 0);
  again.close();
});

test("saving the same run incident again updates it and keeps its id; ids are never reused", () => {
  const store = IncidentStore.open({ path: fresh() });
  const run = store.beginRun(RUN);
  const open = { ...makeIncident(proc(4242, "scan", { startTime: 777 }), 20, T0), state: "open" as const };
  const id = store.saveIncident(run, open);
  const closed = makeIncident(proc(4242, "scan", { startTime: 777 }), 30, T0);
  assert.equal(store.saveIncident(run, closed), id);
  const got = store.get(id);
  assert.equal(got?.state, "closed");
  assert.equal(got?.report.attempts, 30);
  assert.equal(got?.report.processes[0]?.startTime, 777);
  assert.equal(store.count(), 1);
  const second = store.saveIncident(run, { ...makeIncident(proc(7, "worm"), 12, T0 + 1000), id: 2 });
  assert.equal(second, id + 1);
  store.close();
});

test("list filters by time, name and pid, newest first, and honours --limit", () => {
  const store = IncidentStore.open({ path: fresh() });
  const run = store.beginRun(RUN);
  const hour = 3_600_000;
  const saved = [
    store.saveIncident(run, { ...makeIncident(proc(100, "scan"), 20, T0), id: 1 }),
    store.saveIncident(run, { ...makeIncident(proc(200, "worm"), 15, T0 + hour), id: 2 }),
    store.saveIncident(run, { ...makeIncident(proc(100, "scan"), 11, T0 + 2 * hour), id: 3 }),
  ];
  const ids = (f: Parameters<IncidentStore["list"]>[0]) => store.list(f).map((s) => s.id);
  assert.deepEqual(ids({}), [saved[2], saved[1], saved[0]]);
  assert.deepEqual(ids({ since: T0 + hour }), [saved[2], saved[1]]);
  assert.deepEqual(ids({ until: T0 + hour + 1000 }), [saved[1], saved[0]]);
  assert.deepEqual(ids({ since: T0 + 1000, until: T0 + hour + 1000 }), [saved[1]]);
  assert.deepEqual(ids({ comm: ["worm"] }), [saved[1]]);
  assert.deepEqual(ids({ comm: ["nope", "scan"] }), [saved[2], saved[0]]);
  assert.deepEqual(ids({ pid: [200, 999] }), [saved[1]]);
  assert.deepEqual(ids({ limit: 1 }), [saved[2]]);
  assert.deepEqual(ids({ comm: ["'; DROP TABLE incidents; --"] }), [], "names are data, not SQL");
  assert.equal(store.count(), 3);
  store.close();
});

test("an open incident of a watch that is gone reads as interrupted", () => {
  const path = fresh();
  let alive = true;
  const store = IncidentStore.open({ path, isRunAlive: () => alive });
  const run = store.beginRun(RUN);
  const id = store.saveIncident(run, { ...makeIncident(proc(1, "a"), 11, T0), state: "open" });
  assert.equal(store.get(id)?.state, "open");
  store.close();
  alive = false;
  const reader = IncidentStore.open({ path, readonly: true, isRunAlive: () => alive });
  assert.equal(reader.get(id)?.state, "interrupted");
  reader.close();
});

test("readers see what the writer committed while the writer keeps the file open", () => {
  const path = fresh();
  const writer = IncidentStore.open({ path });
  const run = writer.beginRun(RUN);
  const reader = IncidentStore.open({ path, readonly: true });
  assert.equal(reader.count(), 0);
  const id = writer.saveIncident(run, makeIncident(proc(1, "a"), 11, T0));
  assert.equal(reader.get(id)?.report.attempts, 11);
  reader.close();
  writer.close();
});

test("retention deletes closed incidents past the age, then the oldest past the size, never open ones", () => {
  const path = fresh();
  const day = 86_400_000;
  const store = IncidentStore.open({ path, retention: { maxAgeMs: 7 * day, maxBytes: 1024 * 1024 } });
  const run = store.beginRun(RUN);
  const old = store.saveIncident(run, { ...makeIncident(proc(1, "old"), 11, T0 - 10 * day), id: 1 });
  const openOld = store.saveIncident(run, { ...makeIncident(proc(2, "still"), 11, T0 - 10 * day), id: 2, state: "open" });
  const recent = store.saveIncident(run, { ...makeIncident(proc(3, "new"), 11, T0), id: 3 });
  assert.equal(store.enforceRetention(T0 + day), 1);
  assert.equal(store.get(old), undefined);
  assert.ok(store.get(openOld), "an open incident is never deleted");
  assert.ok(store.get(recent));
  // Size: fill past 1 MiB with incidents of 256 processes each, then enforce.
  for (let i = 0; i < 40; i++) {
    const big = makeIncident(proc(1000 + i, "big"), 11, T0 + i * 1000);
    big.processes = Array.from({ length: 256 }, (_, k) => ({ ...big.processes[0]!, pid: 5000 + k, processKey: `${5000 + k}:${i}`, cmdline: ["x".repeat(200)] }));
    store.saveIncident(run, { ...big, id: 10 + i });
  }
  const before = store.usedBytes();
  assert.ok(before > 1024 * 1024, `filled to ${before} bytes`);
  const deleted = store.enforceRetention(T0 + 41_000);
  assert.ok(deleted > 0);
  assert.ok(store.usedBytes() <= 1024 * 1024, `now ${store.usedBytes()} bytes`);
  const left = store.list({}).map((s) => s.report.startedAtWall);
  assert.deepEqual(left, [...left].sort((a, b) => b - a));
  assert.ok(store.get(openOld), "the open incident survives size retention too");
  store.close();
  assert.ok(statSync(path).size < before + 256 * 1024, "freed pages went back to the file system");
});

test("a garbage file is DB_CORRUPT and stays byte-for-byte unchanged", () => {
  const path = fresh();
  IncidentStore.open({ path }).close();
  writeFileSync(path, "this is not a database\n".repeat(200));
  const before = readFileSync(path);
  for (const readonly of [false, true]) {
    assert.throws(() => IncidentStore.open({ path, readonly }), (e: unknown) => code(e) === "HALFOPEN_DB_CORRUPT" && /move it aside/.test((e as Error).message));
  }
  assert.deepEqual(readFileSync(path), before);
});

test("a SQLite file that is not ours is refused and left alone", () => {
  const path = join(dir, "foreign.db");
  const db = new Database(path);
  db.exec("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)");
  db.close();
  assert.throws(() => IncidentStore.open({ path }), (e: unknown) => code(e) === "HALFOPEN_DB_CORRUPT" && /not a halfopen one/.test((e as Error).message));
  const check = new Database(path, { readonly: true });
  assert.deepEqual((check.prepare("SELECT name FROM sqlite_schema").all() as { name: string }[]).map((r) => r.name), ["customers"]);
  check.close();
});

test("a database from a newer halfopen is refused, not altered", () => {
  const path = fresh();
  IncidentStore.open({ path }).close();
  const db = new Database(path);
  db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  db.close();
  for (const readonly of [false, true]) {
    assert.throws(() => IncidentStore.open({ path, readonly }), (e: unknown) => code(e) === "HALFOPEN_DB_VERSION" && /newer halfopen/.test((e as Error).message));
  }
  const check = new Database(path, { readonly: true });
  assert.equal(check.pragma("user_version", { simple: true }), SCHEMA_VERSION + 1);
  check.close();
});

test("a missing database is DB_MISSING for readers, and names the path", () => {
  const path = join(dir, "none", "incidents.db");
  assert.throws(() => IncidentStore.open({ path, readonly: true }), (e: unknown) => code(e) === "HALFOPEN_DB_MISSING" && (e as Error).message.includes(path));
});

test("the default path: HALFOPEN_DB, /var/lib as root, XDG_STATE_HOME, ~/.local/state, LOCALAPPDATA", () => {
  assert.equal(defaultDbPath({ HALFOPEN_DB: "/x/y.db" }, 0, "linux"), "/x/y.db");
  assert.equal(defaultDbPath({}, 0, "linux"), "/var/lib/halfopen/incidents.db");
  assert.equal(defaultDbPath({ XDG_STATE_HOME: "/home/a/.st" }, 1000, "linux"), "/home/a/.st/halfopen/incidents.db");
  assert.match(defaultDbPath({ XDG_STATE_HOME: "relative" }, 1000, "linux"), /\/\.local\/state\/halfopen\/incidents\.db$/);
  assert.equal(defaultDbPath({ LOCALAPPDATA: "C:\\Users\\a\\AppData\\Local" }, undefined, "win32").replace(/\\/g, "/").endsWith("AppData/Local/halfopen/incidents.db"), true);
});

test("StoreWriter keeps an incident that failed to store, says so once, and stores it on the next try", () => {
  const path = fresh();
  const writer = new StoreWriter(IncidentStore.open({ path, busyTimeoutMs: 50 }), RUN);
  // Another process holds the write lock past the busy timeout.
  const blocker = new Database(path);
  blocker.exec("BEGIN IMMEDIATE");
  const first = makeIncident(proc(9, "scan"), 11, T0);
  const second = { ...makeIncident(proc(9, "scan"), 12, T0 + 5000), id: 2 };
  const results = [writer.save(first), writer.save(second)];
  assert.deepEqual(results.map((r) => (r.stored ? "stored" : `${r.error.code} ${r.firstOfKind}`)), ["HALFOPEN_DB_FAILED true", "HALFOPEN_DB_FAILED false"]);
  assert.equal(writer.unstored, 2);
  blocker.exec("COMMIT");
  blocker.close();
  assert.deepEqual(writer.retry().map((d) => d.report.id), [1, 2], "oldest first");
  assert.equal(writer.unstored, 0);
  assert.deepEqual(writer.close(), []);
  const reader = IncidentStore.open({ path, readonly: true });
  assert.deepEqual(reader.list({}).map((s) => s.report.attempts), [12, 11]);
  reader.close();
});

test("names: kept for as long as the watch's map holds them, updated by a newer answer, expired ones deleted, at most MAX_STORED_NAMES", () => {
  const store = IncidentStore.open({ path: fresh() });
  store.saveNames([{ key: "4026531840|198.18.0.5", name: "a.lab.test", keepMs: 60_000 }, { key: "198.18.0.6", name: "b.lab.test", keepMs: 1000 }], T0);
  assert.deepEqual([...store.names(["4026531840|198.18.0.5", "198.18.0.6", "198.18.0.7"], T0 + 500)], [["4026531840|198.18.0.5", "a.lab.test"], ["198.18.0.6", "b.lab.test"]]);
  assert.deepEqual([...store.names(["198.18.0.6"], T0 + 1001)], [], "past its time");
  store.saveNames([{ key: "4026531840|198.18.0.5", name: "c.lab.test", keepMs: 60_000 }], T0 + 2000);
  assert.equal(store.names(["4026531840|198.18.0.5"], T0 + 2000).get("4026531840|198.18.0.5"), "c.lab.test");
  const many = Array.from({ length: MAX_STORED_NAMES + 10 }, (_, i) => ({ key: `2001:2::${i.toString(16)}`, name: `h${i}.lab.test`, keepMs: 10_000 + i }));
  store.saveNames(many, T0 + 3000);
  const held = store.names(many.map((e) => e.key), T0 + 3000);
  assert.equal(held.size, MAX_STORED_NAMES - 1, "the 11 soonest to expire went; the 60 s one outlives them");
  assert.equal(store.names(["4026531840|198.18.0.5"], T0 + 3000).size, 1);
  assert.equal(held.has("2001:2::0"), false);
  assert.equal(held.get(`2001:2::${(MAX_STORED_NAMES + 9).toString(16)}`), `h${MAX_STORED_NAMES + 9}.lab.test`);
  store.close();
});
