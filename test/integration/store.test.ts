/**
 * The incident database under a real `watch` (tracefs, netns lab, root):
 * kill -9 while writing, a full disk, a read-only and a corrupt file.
 * Under CI a missing prerequisite fails instead of skipping.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, openSync, writeSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { IncidentStore } from "../../src/store/incident-store.js";
import { describeLab, LAB_ADDRESS, DROPPED_RANGE, droppedPorts } from "./lab.js";
import { CLI, REPO, WatchProcess, runConnector, runLabWorkload, type JsonLine } from "./watch-process.js";



/** A small tmpfs the test mounts (root), so "disk full" and "read-only" are real. */
function mountTmpfs(sizeKb: number): string {
  const dir = mkdtempSync(join(tmpdir(), "halfopen-fs-"));
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${sizeKb}k,mode=0755`, "tmpfs", dir]);
  return dir;
}

function unmount(dir: string): void {
  spawnSync("umount", [dir]);
  rmSync(dir, { recursive: true, force: true });
}

/** Write zeros until the file system is full; returns the filler's path. */
function fill(dir: string): string {
  const path = join(dir, "filler");
  const fd = openSync(path, "w");
  const chunk = Buffer.alloc(4096);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOSPC") throw e;
  } finally {
    closeSync(fd);
  }
  return path;
}

describeLab("incident database under watch (netns lab)", { file: "integration/store", prefix: "hostore" }, (lab) => {
  test("kill -9 while writing many incidents: the file is intact and holds every incident reported as stored", async () => {
    // Only the lab's namespace (here and below): the host may be busy with other connects.
    const w = new WatchProcess(["--interval", "0", "--quiet", "0", "--limit", "2", "--netns", lab.name]);
    let stored: JsonLine[];
    try {
      await w.waitFor((l) => l.type === "start");
      const spec = { title: "ho-bursts", host: LAB_ADDRESS, port0: DROPPED_RANGE[0], perBurst: 5, holdMs: 120, gapMs: 280, bursts: 200 };
      const work = await runLabWorkload(lab, [`${REPO}test/integration/bursts.mjs`, JSON.stringify(spec)]);
      // While watch is writing, a reader sees what it committed.
      await w.waitFor((l) => l.type === "incident" && l.stored === true);
      const reader = IncidentStore.open({ path: w.db, readonly: true });
      assert.ok(reader.count() >= 1);
      reader.close();
      await w.waitFor(() => w.lines.filter((l) => l.type === "incident" && l.stored === true).length >= 12, 30_000);
      // Strike between writes or in the middle of one: the workload keeps raising incidents.
      await new Promise((r) => setTimeout(r, 137));
      await w.stop("SIGKILL");
      stored = w.lines.filter((l) => (l.type === "incident" || l.type === "incident-open") && l.stored === true);
      execFileSync("kill", ["-9", String(work.pid)]);
    } finally {
      await w.stop("SIGKILL");
    }
    const db = new Database(w.db);
    assert.equal(db.pragma("integrity_check", { simple: true }), "ok");
    db.close();
    const store = IncidentStore.open({ path: w.db, readonly: true });
    try {
      const closed = stored.filter((l) => l.type === "incident");
      assert.ok(closed.length >= 12, `${closed.length} closed incidents reported stored`);
      for (const line of stored) {
        const got = store.get(line.id as number);
        assert.ok(got, `incident ${String(line.id)} reported stored is in the database`);
        assert.equal(got.report.trigger.pid, (line.trigger as { pid: number }).pid);
        if (line.type === "incident") {
          assert.equal(got.state, "closed");
          assert.equal(got.report.attempts, line.attempts);
          assert.deepEqual(got.report.outcomes, line.outcomes);
        }
      }
      // Ids are consecutive: nothing in between was lost or skipped.
      const ids = store.list({}).map((s) => s.id).sort((a, b) => a - b);
      assert.deepEqual(ids, Array.from({ length: ids.length }, (_, i) => i + 1));
      const open = store.list({}).filter((s) => s.state !== "closed");
      assert.ok(open.every((s) => s.state === "interrupted"), "an incident left open by the killed watch reads as interrupted");
    } finally {
      store.close();
    }
  });

  test("disk full: incidents are still printed, kept in memory, and stored once space returns", async () => {
    const fs = mountTmpfs(2048);
    const db = join(fs, "incidents.db");
    const w = new WatchProcess(["--interval", "0", "--quiet", "0.3", "--limit", "10", "--netns", lab.name], undefined, { HALFOPEN_DB: db });
    try {
      await w.waitFor((l) => l.type === "start");
      const filler = fill(fs);
      const c1 = await runConnector(lab, { title: "ho-full1", host: LAB_ADDRESS, ports: droppedPorts(30), holdMs: 600 });
      await c1.exited;
      const first = await w.waitFor((l) => l.type === "incident");
      assert.equal(first.stored, false);
      assert.equal(first.storeError, "HALFOPEN_DB_FULL");
      assert.equal(first.attempts, 30, "the incident is printed in full");
      const warning = await w.waitFor((l) => l.type === "warning" && /not stored: .*disk is full.*kept in memory and retried/.test(String(l.message)));
      assert.ok(warning);
      rmSync(filler);
      const c2 = await runConnector(lab, { title: "ho-full2", host: LAB_ADDRESS, ports: droppedPorts(20, 100), holdMs: 600 });
      await c2.exited;
      const late = await w.waitFor((l) => l.type === "stored" && l.runIncident === first.runIncident, 20_000);
      const second = await w.waitFor((l) => l.type === "incident" && l.runIncident === 2);
      assert.equal(second.stored, true);
      assert.equal(await w.stop(), 0, w.stderr);
      const store = IncidentStore.open({ path: db, readonly: true });
      assert.deepEqual(
        store.list({}).map((s) => [s.id, s.report.attempts, s.report.processes[0]?.name]),
        [[second.id, 20, "ho-full2"], [late.id, 30, "ho-full1"]],
      );
      store.close();
    } finally {
      await w.stop("SIGKILL");
      unmount(fs);
    }
  });

  test("disk full until the end: watch exits 1 and says which incidents were not stored", async () => {
    const fs = mountTmpfs(2048);
    const w = new WatchProcess(["--interval", "0", "--quiet", "0.3", "--netns", lab.name], undefined, { HALFOPEN_DB: join(fs, "incidents.db") });
    try {
      await w.waitFor((l) => l.type === "start");
      fill(fs);
      const c = await runConnector(lab, { title: "ho-fullend", host: LAB_ADDRESS, ports: droppedPorts(25), holdMs: 500 });
      await c.exited;
      const incident = await w.waitFor((l) => l.type === "incident");
      assert.equal(incident.stored, false);
      assert.equal(await w.stop(), 1);
      const stop = w.lines.find((l) => l.type === "stop");
      assert.equal(stop?.unstored, 1);
      assert.match(w.stderr, /1 incident was not stored in .*incidents\.db \(run incident 1\); they were printed above \[HALFOPEN_DB_FAILED\]/);
      assert.doesNotMatch(w.stderr, /\n\s+at /);
    } finally {
      await w.stop("SIGKILL");
      unmount(fs);
    }
  });

  test("a read-only or corrupt database stops watch at start with its code; incidents still reads the read-only one", () => {
    const fs = mountTmpfs(1024);
    try {
      const db = join(fs, "incidents.db");
      const store = IncidentStore.open({ path: db });
      const run = store.beginRun({ startedAt: Date.now(), pid: 1, hostname: "lab", source: "tracefs", limit: 10, version: "t" });
      store.endRun(run, Date.now());
      store.close();
      execFileSync("mount", ["-o", "remount,ro", fs]);
      const ro = spawnSync(process.execPath, ["--import", "tsx", CLI, "watch", "--db", db, "--duration", "1"], { cwd: REPO, encoding: "utf8" });
      assert.equal(ro.status, 1, ro.stderr);
      assert.match(ro.stderr, /Cannot open the incident database .*incidents\.db: .*read-only.*; or watch with --no-store \[HALFOPEN_DB_READONLY\]/);
      assert.doesNotMatch(ro.stderr, /\n\s+at /);
      const list = spawnSync(process.execPath, ["--import", "tsx", CLI, "incidents", "--db", db], { cwd: REPO, encoding: "utf8" });
      assert.equal(list.status, 0, list.stderr);
      assert.match(list.stdout, /no incidents match/);
    } finally {
      unmount(fs);
    }
    const dir = mkdtempSync(join(tmpdir(), "halfopen-corrupt-"));
    try {
      const db = join(dir, "incidents.db");
      writeFileSync(db, Buffer.alloc(8192, 0xa5));
      const bad = spawnSync(process.execPath, ["--import", "tsx", CLI, "watch", "--db", db, "--duration", "1"], { cwd: REPO, encoding: "utf8" });
      assert.equal(bad.status, 1, bad.stderr);
      assert.match(bad.stderr, /corrupt or is not a SQLite database; move it aside \(nothing was changed\).*\[HALFOPEN_DB_CORRUPT\]/);
      const none = spawnSync(process.execPath, ["--import", "tsx", CLI, "watch", "--db", db, "--no-store", "--duration", "0.5", "--json"], { cwd: REPO, encoding: "utf8" });
      assert.equal(none.status, 0, `--no-store watches anyway: ${none.stderr}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
