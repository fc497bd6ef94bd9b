/**
 * Scans started from the dashboard, for real: the scanner connects to
 * listeners this test opens on 127.0.0.1 (and to ports it just closed), the
 * rounds are stored in a temporary database, and the changes between rounds
 * are the ones the test made. No root needed.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { quietPort } from "../../test/support/net.js";
import { assertTimeFields, LEGACY_WALL_NAMES } from "../../test/support/time-fields.js";
import { IncidentStore } from "../store/incident-store.js";
import { DashboardModel, type ScanRecord } from "./model.js";
import { DashboardScans, parseScanRequest } from "./scans.js";

// The records as the page reads them: typed, with any field reachable for the checks below.
type Rec = ScanRecord & Record<string, unknown>;

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function listen(port = 0): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer((c) => c.destroy());
    s.once("error", reject);
    s.listen(port, "127.0.0.1", () => resolve(s));
  });
}
const portOf = (s: Server) => (s.address() as { port: number }).port;
const close = (s: Server) => new Promise<void>((r) => s.close(() => r()));

function harness(db?: string) {
  const records: Rec[] = [];
  const model = new DashboardModel({ limit: 10 });
  const waiters: { test: (r: Rec) => boolean; resolve: (r: Rec) => void }[] = [];
  const scans = new DashboardScans({
    emit: (record) => {
      model.record(record);
      const r = record as Rec;
      records.push(r);
      for (const w of waiters.splice(0)) if (w.test(r)) w.resolve(r);
      else waiters.push(w);
    },
    db: () => db,
    limit: 10,
  });
  /** The first record (already seen or still to come) that passes `test`, within 20 s. */
  const next = (test: (r: Rec) => boolean) =>
    new Promise<Rec>((resolve, reject) => {
      const seen = records.find(test);
      if (seen) return resolve(seen);
      const timer = setTimeout(() => reject(new Error(`no such record in 20 s; got ${records.map((r) => r.type).join(",")}`)), 20_000);
      waiters.push({ test, resolve: (r) => (clearTimeout(timer), resolve(r)) });
    });
  return { records, model, scans, next };
}

const tempDb = () => {
  const d = mkdtempSync(join(tmpdir(), "halfopen-uiscan-"));
  dirs.push(d);
  return join(d, "incidents.db");
};

describe("the dashboard's scan requests", () => {
  it("checks the page's body: targets, ports, budget, repeat; refuses what is not", () => {
    const r = parseScanRequest({ targets: "127.0.0.1, 127.0.0.2-3\n::1", ports: "22,80-81", maxHalfOpen: "5", discovery: false, everyS: 60 }, { maxHalfOpen: 10 });
    assert.deepEqual(r.spec, { targets: ["127.0.0.1", "127.0.0.2-3", "::1"], exclude: [], ports: [22, 80, 81], discovery: "none", maxHalfOpen: 5, retries: 1 });
    assert.equal(r.everyMs, 60_000);
    assert.equal(r.yes, false);
    const d = parseScanRequest({ targets: ["127.0.0.1"] }, { maxHalfOpen: 7 });
    assert.equal(d.spec.maxHalfOpen, 7);
    assert.equal(d.spec.discovery, "auto");
    assert.equal(d.spec.ports.length, 20, "nmap's top 20 when the page names no ports");
    assert.equal(d.everyMs, undefined);
    const refused: [unknown, RegExp][] = [
      [null, /JSON object/],
      [[], /JSON object/],
      [{}, /no targets/],
      [{ targets: "" }, /no targets/],
      [{ targets: 5 }, /string or a list/],
      [{ targets: "127.0.0.1", ports: 80 }, /ports as a string/],
      [{ targets: "127.0.0.1", ports: "99999" }, /port/i],
      [{ targets: "127.0.0.1", maxHalfOpen: 0 }, /maxHalfOpen 0/],
      [{ targets: "127.0.0.1", maxHalfOpen: 2.5 }, /whole number/],
      [{ targets: "127.0.0.1", everyS: 3 }, /everyS 3.*from 10/],
      [{ targets: "127.0.0.1", discovery: "yes" }, /discovery as true/],
      [{ targets: "127.0.0.1", rm: "-rf" }, /Unknown field "rm"/],
      [{ targets: Array.from({ length: 300 }, () => "127.0.0.1") }, /more than 256/],
    ];
    for (const [body, message] of refused) {
      assert.throws(
        () => parseScanRequest(body, { maxHalfOpen: 10 }),
        (e: Error & { code?: string }) => /^HALFOPEN_(BAD_USAGE|BAD_TARGET|INVALID_OPTION)$/.test(e.code ?? "") && message.test(e.message),
        JSON.stringify(body),
      );
    }
  });
});

describe("scans from the dashboard", () => {
  it("scans, stores the round, and reports the port opened since the previous round", async () => {
    const db = tempDb();
    const h = harness(db);
    const a = await listen();
    const b = await listen();
    const later = await quietPort();
    const ports = [portOf(a), portOf(b), later].sort((x, y) => x - y);
    try {
      const first = await h.scans.start({ targets: "127.0.0.1", ports: ports.join(","), discovery: false, maxHalfOpen: 2 });
      assert.equal(first.total, 1);
      const end1 = await h.next((r) => r.type === "scan-end" && r.id === first.id);
      assert.equal(end1.state, "done");
      assert.equal(end1.previous, undefined, "nothing to compare the first scan with");
      const batches = h.records.filter((r) => r.type === "scan-hosts" && r.id === first.id);
      assert.equal(batches.length, 1);
      const [host] = batches[0]?.hosts as { address: string; ports: { port: number; state: string }[] }[];
      assert.ok(host);
      assert.ok(h.records.indexOf(batches[0] as Rec) < h.records.findIndex((r) => r.type === "scan-end"), "the hosts before the end");
      assert.equal(host.address, "127.0.0.1");
      assert.deepEqual(
        host.ports.map((p) => [p.port, p.state]),
        ports.map((p) => [p, p === later ? "closed" : "open"]),
      );
      assert.equal((end1.summary as { peakInFlight: number }).peakInFlight <= 2, true);
      const scanId = Number(end1.scanId);
      assert.ok(scanId > 0, "stored");
      assert.equal(h.scans.running, false);

      // The port opens; the next round says so, and the database holds both rounds.
      const c = await listen(later);
      try {
        const second = await h.scans.start({ targets: "127.0.0.1", ports: ports.join(","), discovery: false, maxHalfOpen: 2 });
        const end2 = await h.next((r) => r.type === "scan-end" && r.id === second.id);
        assert.deepEqual(end2.previous, { scanId, id: first.id });
        assert.deepEqual(end2.changes, [{ change: "port-opened", address: "127.0.0.1", port: later, from: "closed", to: "open" }]);
        const view = h.model.scan(second.id);
        assert.equal(view?.state, "done");
        assert.equal(view?.hosts.length, 1);
        assert.equal(view?.changes?.length, 1);
        const stored = h.scans.stored();
        assert.deepEqual(
          stored.map((s) => [s.id, s.state, s.open]),
          [
            [Number(end2.scanId), "done", 3],
            [scanId, "done", 2],
          ],
        );
        assert.deepEqual((h.scans.storedScan(scanId)?.hosts ?? []).map((x) => x.address), ["127.0.0.1"]);
        // Times as the page reads them: ...Wall everywhere (the old names, the same numbers, one release).
        for (const r of h.records) assertTimeFields(`page ${r.type}`, r, LEGACY_WALL_NAMES);
        assert.ok(assertTimeFields("stored", { stored, scan: h.scans.storedScan(scanId) }, LEGACY_WALL_NAMES) >= 12);
        assert.ok(Number(end2.endedAtWall) >= Number(h.records.find((r) => r.type === "scan-start" && r.id === second.id)?.startedAtWall));
      } finally {
        await close(c);
      }
    } finally {
      await close(a);
      await close(b);
    }
  });

  it("without a database, compares with this run's previous round", async () => {
    const h = harness(undefined);
    const a = await listen();
    const gone = await listen();
    const gonePort = portOf(gone);
    const ports = `${portOf(a)},${gonePort}`;
    try {
      const first = await h.scans.start({ targets: "127.0.0.1", ports, discovery: false });
      await h.next((r) => r.type === "scan-end" && r.id === first.id);
      await close(gone);
      const second = await h.scans.start({ targets: "127.0.0.1", ports, discovery: false });
      const end = await h.next((r) => r.type === "scan-end" && r.id === second.id);
      assert.equal(end.scanId, undefined);
      assert.deepEqual(end.previous, { id: first.id });
      assert.deepEqual(end.changes, [{ change: "port-closed", address: "127.0.0.1", port: gonePort, from: "open", to: "closed" }]);
      assert.deepEqual(h.scans.stored(), []);
    } finally {
      await close(a);
    }
  });

  it("runs one scan at a time, stops on request (stored as interrupted), and asks before a huge one", async () => {
    const db = tempDb();
    const h = harness(db);
    await assert.rejects(h.scans.start({ targets: "127.0.0.0/8", ports: "9", discovery: false }), (e: Error & { code?: string }) => e.code === "HALFOPEN_NEEDS_CONFIRMATION" && /16,777,216 addresses/.test(e.message));
    assert.equal(h.scans.running, false);
    // 65,536 loopback addresses: long enough to stop in the middle.
    const started = await h.scans.start({ targets: "127.1.0.0/16", ports: String(await quietPort()), discovery: false, maxHalfOpen: 4 });
    assert.equal(started.total, 65_536);
    await assert.rejects(h.scans.start({ targets: "127.0.0.1", ports: "9" }), (e: Error & { code?: string }) => e.code === "HALFOPEN_REFUSED" && /A scan is running/.test(e.message));
    await h.next((r) => r.type === "scan-progress" && r.id === started.id && (r.progress as { done: number }).done > 0);
    assert.deepEqual(h.scans.stop(), { stopped: true, series: started.series });
    const end = await h.next((r) => r.type === "scan-end" && r.id === started.id);
    assert.equal(end.state, "interrupted");
    const progress = end.progress as { done: number; total: number };
    assert.ok(progress.done > 0 && progress.done < progress.total, `${progress.done}/${progress.total}`);
    assert.equal(end.nextAt, undefined);
    await h.scans.close();
    assert.equal(h.scans.running, false);
    assert.deepEqual(h.scans.stop(), { stopped: false });
    const store = IncidentStore.open({ path: db, readonly: true });
    try {
      assert.equal(store.scans().get(Number(end.scanId))?.state, "interrupted");
    } finally {
      store.close();
    }
  });

  it("repeats a series every N seconds until stopped between rounds", async (t) => {
    // A 10 s minimum between rounds (the page's shortest is a minute): the first round, then the wait, then stop.
    const h = harness(undefined);
    const a = await listen();
    try {
      const started = await h.scans.start({ targets: "127.0.0.1", ports: String(portOf(a)), discovery: false, everyS: 10 });
      const end = await h.next((r) => r.type === "scan-end" && r.id === started.id);
      assert.ok(Number(end.nextAtWall) >= Number(end.endedAtWall) - 10_000 && Number(end.nextAtWall) > Date.now() - 1000, "the next round is due");
      assert.equal(h.model.scans()[0]?.nextAtWall, end.nextAtWall);
      assertTimeFields("scan-end", end, LEGACY_WALL_NAMES);
      assert.equal(h.scans.running, true, "waiting for the next round counts as running");
      h.scans.stop();
      const stop = await h.next((r) => r.type === "scan-stop" && r.series === started.series);
      assertTimeFields("scan-stop", stop, LEGACY_WALL_NAMES);
      assert.deepEqual([h.model.scans()[0]?.nextAtWall, h.model.scans()[0]?.nextAt], [undefined, undefined]);
      await h.scans.close();
      assert.equal(h.records.filter((r) => r.type === "scan-start").length, 1, "no second round");
      t.diagnostic("stopped while waiting");
    } finally {
      await close(a);
    }
  });
});
