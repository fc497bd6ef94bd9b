/**
 * Fleet monitoring and actions against real processes (root, netns lab):
 * a real Prometheus scrapes watch's /metrics; promtool checks the live
 * exposition and the alert rules in docs/; kill, incidents show --kill and
 * close end a real culprit, and a reused PID is refused.
 * Under CI a missing prerequisite fails instead of skipping.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { IncidentStore } from "../../src/store/incident-store.js";
import { readIdentity } from "../../src/platform/process-identity.js";
import { makeIncident } from "../support/incidents.js";
import { proc } from "../support/events.js";
import { describeLab, runInLab, LAB_ADDRESS, droppedPorts } from "./lab.js";
import { freePort } from "../support/net.js";
import { REPO, WatchProcess, runConnector, cli } from "./watch-process.js";





function alive(pid: number): boolean {
  const id = readIdentity(pid);
  return id !== undefined && !/\) Z /.test(spawnSync("cat", [`/proc/${pid}/stat`], { encoding: "utf8" }).stdout);
}

describeLab("fleet monitoring and actions (netns lab)", { file: "integration/fleet", prefix: "hofleet", needs: () => (spawnSync("prometheus", ["--version"]).status === 0 ? undefined : "needs prometheus and promtool (Debian package prometheus)") }, (lab) => {
  test("Prometheus scrapes /metrics and a query returns the half-open count the lab produced; promtool accepts it", async () => {
    const metricsPort = await freePort();
    const promPort = await freePort();
    const dir = mkdtempSync(join(tmpdir(), "halfopen-prom-"));
    writeFileSync(
      join(dir, "prometheus.yml"),
      `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: halfopen\n    static_configs:\n      - targets: ["127.0.0.1:${metricsPort}"]\n`,
    );
    const w = new WatchProcess(["--interval", "0", "--comm", "ho-prom", "--metrics-port", String(metricsPort)]);
    let prom: ChildProcess | undefined;
    let promLog = "";
    let culprit: { pid: number } | undefined;
    try {
      const start = await w.waitFor((l) => l.type === "start");
      assert.equal(start.metrics, `http://127.0.0.1:${metricsPort}/metrics`);
      prom = spawn("prometheus", [`--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${promPort}`], { stdio: ["ignore", "ignore", "pipe"] });
      prom.stderr?.on("data", (d: Buffer) => (promLog += d.toString()));
      culprit = await runConnector(lab, { title: "ho-prom", host: LAB_ADDRESS, ports: droppedPorts(30), holdMs: 60_000 });
      await w.waitFor((l) => l.type === "incident-open");
      const query = async (q: string): Promise<string | undefined> => {
        try {
          const r = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`);
          const body = (await r.json()) as { data?: { result?: { value: [number, string] }[] } };
          return body.data?.result?.[0]?.value[1];
        } catch {
          return undefined; // not up yet
        }
      };
      let value: string | undefined;
      for (let i = 0; i < 120 && value !== "30"; i++) {
        await sleep(250);
        value = await query("halfopen_half_open");
      }
      assert.equal(value, "30", `Prometheus has the gauge the test produced; prometheus said: ${promLog.slice(-2000)}`);
      assert.equal(await query('halfopen_process_half_open{name="ho-prom"}'), "30");
      assert.equal(await query("halfopen_incident_open"), "1");
      assert.equal(await query('up{job="halfopen"}'), "1");
      const live = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      const check = spawnSync("promtool", ["check", "metrics"], { input: live, encoding: "utf8" });
      assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);
      const rules = spawnSync("promtool", ["check", "rules", `${REPO}docs/alerts.yml`], { encoding: "utf8" });
      assert.equal(rules.status, 0, `${rules.stdout}${rules.stderr}`);
      assert.match(rules.stdout, /SUCCESS: 6 rules found/);
    } finally {
      const promExited = prom && prom.exitCode === null && prom.signalCode === null ? once(prom, "exit") : undefined;
      prom?.kill("SIGTERM");
      if (culprit) spawnSync("kill", ["-9", String(culprit.pid)]);
      await w.stop();
      await promExited;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("kill ends a real culprit in the lab once confirmed with --yes", async () => {
    const c = await runConnector(lab, { title: "ho-killme", host: LAB_ADDRESS, ports: droppedPorts(30, 200), holdMs: 60_000 });
    const r = cli("kill", String(c.pid), "--yes", "--json");
    assert.equal(r.status, 0, r.stderr);
    const result = JSON.parse(r.stdout) as { pid: number; name: string; result: string; signal: string };
    assert.deepEqual([result.pid, result.name, result.signal, result.result], [c.pid, "ho-killme", "SIGTERM", "exited"]);
    await c.exited;
    assert.equal(alive(c.pid), false);
  });

  test("incidents show --kill refuses a pid whose start time differs, and ends the real culprit of a stored incident", async () => {
    const w = new WatchProcess(["--interval", "0", "--comm", "ho-culprit"]);
    await w.waitFor((l) => l.type === "start");
    const c = await runConnector(lab, { title: "ho-culprit", host: LAB_ADDRESS, ports: droppedPorts(25, 400), holdMs: 60_000 });
    const dir = mkdtempSync(join(tmpdir(), "halfopen-reuse-"));
    try {
      const open = await w.waitFor((l) => l.type === "incident-open" && l.stored === true);
      const real = readIdentity(c.pid);
      assert.ok(real?.startTime !== undefined);
      // A record of the same pid from a process that started earlier: the pid was reused since.
      const forged = IncidentStore.open({ path: join(dir, "incidents.db") });
      const run = forged.beginRun({ startedAt: Date.now(), pid: 1, hostname: "lab", source: "tracefs", limit: 10, version: "t" });
      const id = forged.saveIncident(run, makeIncident(proc(c.pid, "ho-culprit", { startTime: real.startTime - 1 }), 20, Date.now()));
      forged.close();
      const refused = cli("incidents", "show", String(id), "--kill", "--yes", "--db", join(dir, "incidents.db"));
      assert.equal(refused.status, 1);
      assert.match(refused.stderr, new RegExp(`Will not end PID ${c.pid}: PID ${c.pid} now belongs to another process .*the PID was reused \\[HALFOPEN_REFUSED\\]`));
      assert.ok(alive(c.pid), "the process was not signalled");
      // The real incident, read while watch is still writing.
      const killed = cli("incidents", "show", String(open.id), "--kill", "--yes", "--db", w.db);
      assert.equal(killed.status, 0, killed.stderr);
      assert.match(killed.stdout, new RegExp(`^INCIDENT ${String(open.id)} \\(open\\)`));
      assert.match(killed.stdout, new RegExp(`sent SIGTERM to ho-culprit\\[${c.pid}\\]; it exited after`));
      await c.exited;
    } finally {
      spawnSync("kill", ["-9", String(c.pid)]);
      await w.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("close destroys a process's half-open attempts in its own namespace and leaves it running", async () => {
    const c = await runConnector(lab, { title: "ho-closeme", host: LAB_ADDRESS, ports: droppedPorts(20, 600), holdMs: 60_000 });
    try {
      const synSent = () => runInLab(lab, "ss", ["-Htn", "state", "syn-sent"]).trim().split("\n").filter(Boolean).length;
      for (let i = 0; i < 40 && synSent() < 20; i++) await sleep(50);
      assert.equal(synSent(), 20);
      const r = cli("close", String(c.pid), "--yes", "--json");
      assert.equal(r.status, 0, r.stderr);
      const result = JSON.parse(r.stdout) as { found: number; closed: number; remaining: number; name: string };
      assert.deepEqual([result.name, result.found, result.closed, result.remaining], ["ho-closeme", 20, 20, 0]);
      assert.equal(synSent(), 0);
      assert.ok(alive(c.pid), "the process keeps running");
      const none = cli("close", String(c.pid), "--yes");
      assert.equal(none.status, 0);
      assert.match(none.stdout, /has no half-open attempts; nothing to close/);
    } finally {
      spawnSync("kill", ["-9", String(c.pid)]);
    }
  });
});
