import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { once } from "node:events";
import net from "node:net";
import { HalfOpenMonitor } from "../core/monitor.js";
import { burst, closed, proc } from "../../test/support/events.js";
import { WatchMetrics, labelValue, serveMetrics } from "./watch-metrics.js";

function sample(text: string, name: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

test("gauges read the monitor at scrape time; counters advance by what happened between scrapes", async () => {
  const monitor = new HalfOpenMonitor({ limit: 10, quietMs: 0 });
  const metrics = new WatchMetrics({ monitor, source: "tracefs", mode: "exact", processMetrics: false });
  let { body } = await metrics.render();
  assert.equal(sample(body, "halfopen_half_open"), 0);
  assert.equal(sample(body, "halfopen_half_open_limit"), 10);
  assert.match(body, /halfopen_connect_outcomes_total\{outcome="refused"\} 0/, "every outcome series exists from the start");
  const events = burst(0, proc(4242, "scan"), 30);
  for (const e of events) monitor.handle(e);
  ({ body } = await metrics.render());
  assert.equal(sample(body, "halfopen_half_open"), 30);
  assert.equal(sample(body, "halfopen_connect_attempts_total"), 30);
  assert.equal(sample(body, "halfopen_incidents_total"), 1);
  assert.equal(sample(body, "halfopen_incident_open"), 1);
  assert.match(body, /halfopen_process_half_open\{name="scan"\} 30/);
  for (const e of events.slice(0, 25)) monitor.handle(closed(50, e.sock, false));
  monitor.tick(60);
  ({ body } = await metrics.render());
  assert.equal(sample(body, "halfopen_half_open"), 5);
  assert.match(body, /halfopen_connect_outcomes_total\{outcome="aborted"\} 25/);
  assert.equal(sample(body, "halfopen_incident_open"), 0);
  ({ body } = await metrics.render());
  assert.equal(sample(body, "halfopen_connect_attempts_total"), 30, "a second scrape adds nothing");
});

test("process-name labels are bounded: the top N names and one 'other'; control characters removed", async () => {
  const monitor = new HalfOpenMonitor({ limit: 1000 });
  for (let i = 0; i < 25; i++) for (const e of burst(i * 100, proc(100 + i, `w${String(i).padStart(2, "0")}`), i + 1)) monitor.handle(e);
  for (const e of burst(5000, proc(999, "evil\x1b[2J\nname"), 40)) monitor.handle(e);
  const metrics = new WatchMetrics({ monitor, source: "procfs", mode: "polling", topNames: 5, processMetrics: false });
  const { body } = await metrics.render();
  const series = body.split("\n").filter((l) => l.startsWith("halfopen_process_half_open{"));
  assert.deepEqual(series, [
    'halfopen_process_half_open{name="evil[2Jname"} 40',
    'halfopen_process_half_open{name="w24"} 25',
    'halfopen_process_half_open{name="w23"} 24',
    'halfopen_process_half_open{name="w22"} 23',
    'halfopen_process_half_open{name="w21"} 22',
    `halfopen_process_half_open{name="other"} ${Array.from({ length: 21 }, (_, i) => i + 1).reduce((a, b) => a + b)}`,
  ]);
  assert.equal(labelValue("\x00\x01"), "?");
  assert.equal(labelValue("gpj.\u202eexe"), "gpj.exe", "a right-to-left override is removed");
  assert.equal(labelValue("a".repeat(100)).length, 64);
});

test("OpenMetrics when the scraper asks for it, the Prometheus text format otherwise", async () => {
  const metrics = new WatchMetrics({ monitor: new HalfOpenMonitor(), source: "tracefs", mode: "exact", processMetrics: false });
  const om = await metrics.render("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5");
  assert.match(om.contentType, /^application\/openmetrics-text/);
  assert.match(om.body, /# EOF\n?$/);
  assert.match(om.body, /# TYPE halfopen_connect_attempts counter\nhalfopen_connect_attempts_total 0/);
  const text = await metrics.render("text/plain");
  assert.match(text.contentType, /^text\/plain; version=0\.0\.4/);
  assert.doesNotMatch(text.body, /# EOF/);
  assert.match(text.body, /# TYPE halfopen_connect_attempts_total counter/, "rendering OpenMetrics first does not rename the text format's counters");
});

test("the HTTP server answers /metrics, 404 elsewhere, 405 for other methods, and names a port in use", async () => {
  const metrics = new WatchMetrics({ monitor: new HalfOpenMonitor(), source: "tracefs", mode: "exact" });
  const server = await serveMetrics(metrics, "127.0.0.1", 0);
  const port = (server.address() as { port: number }).port;
  try {
    const r = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(r.status, 200);
    const body = await r.text();
    assert.match(body, /halfopen_half_open 0/);
    assert.match(body, /process_cpu_user_seconds_total/, "default process metrics");
    assert.equal((await fetch(`http://127.0.0.1:${port}/nope`)).status, 404);
    assert.equal((await fetch(`http://127.0.0.1:${port}/metrics`, { method: "POST" })).status, 405);
    await assert.rejects(serveMetrics(metrics, "127.0.0.1", port), (e: unknown) => (e as { code?: string }).code === "HALFOPEN_BAD_USAGE" && /in use/.test((e as Error).message));
  } finally {
    server.close();
  }
});

const promtool = spawnSync("promtool", ["--version"]).status === 0;
const noPromtool = promtool ? undefined : "needs promtool (Debian package prometheus)";
if (noPromtool && process.env.CI) throw new Error(`promtool test cannot run under CI: ${noPromtool}; .ci/run must install it`);
if (noPromtool) console.log(`# SKIP promtool check metrics: ${noPromtool}`);

test("promtool check metrics accepts the exposition, hostile names included", { skip: noPromtool }, async () => {
  const monitor = new HalfOpenMonitor({ limit: 2 });
  for (const e of burst(0, proc(1, 'a"b\\c\nd'), 5)) monitor.handle(e);
  const counters = { syns: 1, held: 1, holding: 0, inFlight: 0, maxInFlight: 1, deduplicated: 0, retransmissions: 0, abandoned: 0, exempt: 0, expired: 0, holdEpisodes: 1, contained: 0, unqueued: 0, unholdable: 0, overGranted: 0 };
  const metrics = new WatchMetrics({ monitor, source: "tracefs", mode: "exact", store: () => ({ failures: 1, unstored: 1 }), enforce: { limit: 2, counters: () => counters, takeWaits: () => [250] } });
  const { body } = await metrics.render();
  const r = spawnSync("promtool", ["check", "metrics"], { input: body, encoding: "utf8" });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  assert.equal(`${r.stdout}${r.stderr}`.trim(), "", "no lint warnings");
});

test("the server holds at most maxConnections clients and closes idle ones", async () => {
  const metrics = new WatchMetrics({ monitor: new HalfOpenMonitor(), source: "tracefs", mode: "exact", processMetrics: false });
  const server = await serveMetrics(metrics, "127.0.0.1", 0, { maxConnections: 5, idleMs: 300 });
  const port = (server.address() as net.AddressInfo).port;
  const clients = Array.from({ length: 20 }, () => net.connect({ host: "127.0.0.1", port }));
  try {
    const closedCount = () => clients.filter((c) => c.closed || c.readableEnded).length;
    // The 15 over the bound are closed as they arrive; the 5 held are closed once idle for 300 ms.
    await Promise.all(clients.map((c) => once(c, "close")));
    assert.equal(closedCount(), 20);
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(res.status, 200, "a scraper is served once the idle ones are gone");
  } finally {
    for (const c of clients) c.destroy();
    server.close();
    server.closeAllConnections();
  }
});

test("per-unit and per-container gauges sum half-open attempts by where their processes run, bounded like names", async () => {
  const monitor = new HalfOpenMonitor({ limit: 100 });
  const metrics = new WatchMetrics({ monitor, source: "tracefs", mode: "exact", topNames: 1, processMetrics: false, verdicts: () => ({ scanner: 2, benign: 5, trustedScanner: 1 }) });
  const id = "a2ffe0e97ac22657a2a023ad628e9df837c38a03b1ebc904d3f6d644eb1a1a81";
  const container = { runtime: "docker", id, shortId: id.slice(0, 12) };
  for (const e of burst(0, proc(1, "web", { container, unit: `docker-${id}.scope` }), 6)) monitor.handle(e);
  for (const e of burst(10, proc(2, "worker", { container, unit: `docker-${id}.scope` }), 4)) monitor.handle(e);
  for (const e of burst(20, proc(3, "nginx", { unit: "nginx.service" }), 3)) monitor.handle(e);
  for (const e of burst(30, proc(4, "shell"), 2)) monitor.handle(e);
  const { body } = await metrics.render();
  assert.match(body, /^halfopen_container_half_open\{container="docker:a2ffe0e97ac2"\} 10$/m, "two processes of one container");
  assert.doesNotMatch(body, /halfopen_container_half_open\{container="other"\}/, "processes outside containers are not 'other'");
  assert.match(body, /^halfopen_unit_half_open\{unit="docker-a2ffe0e97ac2[0-9a-f]+\.scope"\} 10$/m);
  assert.match(body, /^halfopen_unit_half_open\{unit="other"\} 3$/m, "past --metrics-top-names, summed");
  assert.match(body, /^halfopen_verdicts_total\{verdict="scanner"\} 2$/m);
  assert.match(body, /^halfopen_verdicts_total\{verdict="trusted_scanner"\} 1$/m);
});

test("--enforce: held, unheld by reason, and a histogram of waits that each registry sees in full", async () => {
  const monitor = new HalfOpenMonitor({ limit: 10, quietMs: 0 });
  const counters = { syns: 12, held: 5, holding: 2, inFlight: 3, maxInFlight: 3, deduplicated: 0, retransmissions: 0, abandoned: 1, exempt: 0, expired: 0, holdEpisodes: 1, contained: 0, unqueued: 4, unholdable: 2, overGranted: 0 };
  let waits = [30, 1500, 12_000];
  const metrics = new WatchMetrics({ monitor, source: "tracefs", mode: "exact", processMetrics: false, enforce: { limit: 3, counters: () => counters, takeWaits: () => waits.splice(0) } });
  const { body } = await metrics.render();
  assert.equal(sample(body, "halfopen_enforce_limit"), 3);
  assert.equal(sample(body, "halfopen_enforce_held_total"), 5);
  assert.equal(sample(body, "halfopen_enforce_holding"), 2);
  assert.match(body, /halfopen_enforce_unheld_total\{reason="queue_full"\} 4/);
  assert.match(body, /halfopen_enforce_unheld_total\{reason="packet_socket"\} 2/);
  assert.equal(sample(body, "halfopen_enforce_wait_seconds_count"), 3);
  assert.match(body, /halfopen_enforce_wait_seconds_bucket\{le="2"\} 2/);
  waits = [];
  const om = await metrics.render("application/openmetrics-text; version=1.0.0");
  assert.match(om.body, /halfopen_enforce_wait_seconds_count 3/, "the OpenMetrics registry got the same waits, taken before it was scraped");
  const again = await metrics.render();
  assert.equal(sample(again.body, "halfopen_enforce_wait_seconds_count"), 3, "nothing counted twice");
});
