/**
 * docs/grafana/halfopen.json names only metrics the exporter serves (a
 * renamed metric fails here), every halfopen metric the exporter serves has
 * a panel, docs/metrics.md lists them all, and every query parses as PromQL.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { HalfOpenMonitor } from "../src/core/monitor.js";
import { WatchMetrics } from "../src/metrics/watch-metrics.js";

interface Panel {
  title: string;
  targets?: { expr: string }[];
}

async function served(): Promise<Set<string>> {
  const counters = { syns: 0, held: 0, holding: 0, inFlight: 0, maxInFlight: 0, deduplicated: 0, retransmissions: 0, abandoned: 0, exempt: 0, expired: 0, holdEpisodes: 0, contained: 0, unqueued: 0, unholdable: 0, overGranted: 0 };
  const metrics = new WatchMetrics({
    monitor: new HalfOpenMonitor({ limit: 10 }),
    source: "tracefs",
    mode: "exact",
    processMetrics: false,
    store: () => ({ failures: 0, unstored: 0 }),
    verdicts: () => ({ scanner: 0, benign: 0, trustedScanner: 0 }),
    enforce: { limit: 10, counters: () => counters, takeWaits: () => [] },
  });
  const { body } = await metrics.render();
  // Every metric has its TYPE line, with or without samples yet (a histogram's names its base).
  return new Set([...body.matchAll(/^# TYPE (halfopen_[a-z_]+) /gm)].map((m) => m[1] as string));
}

test("the Grafana dashboard queries only what the exporter serves, and shows every halfopen metric", async () => {
  const dash = JSON.parse(readFileSync(new URL("../docs/grafana/halfopen.json", import.meta.url), "utf8")) as { panels: Panel[]; templating: { list: { definition: string }[] } };
  const names = await served();
  const exprs = [...dash.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)), ...dash.templating.list.map((v) => v.definition)];
  const used = new Set(exprs.flatMap((e) => [...e.matchAll(/\b(halfopen_[a-z_]+)\b/g)].map((m) => m[1] as string)));
  // A histogram is queried as _bucket, _sum and _count of its base name.
  const base = (n: string) => (names.has(n) ? n : n.replace(/_(bucket|sum|count)$/, ""));
  const shown = new Set([...used].map(base));
  assert.deepEqual([...shown].filter((n) => !names.has(n)), [], "queried but not served");
  // Windows' own Event 4226 count has no panel: a Linux fleet never has it.
  assert.deepEqual([...names].filter((n) => !shown.has(n) && n !== "halfopen_os_limit_events_total"), [], "served but on no panel");
  const doc = readFileSync(new URL("../docs/metrics.md", import.meta.url), "utf8");
  assert.deepEqual([...names].filter((n) => !doc.includes(`\`${n}`)), [], "served but not in docs/metrics.md");
});

const promtool = spawnSync("promtool", ["--version"]).status === 0;
const noPromtool = promtool ? undefined : "needs promtool (Debian package prometheus)";
if (noPromtool && process.env.CI) throw new Error(`grafana-doc cannot run under CI: ${noPromtool}`);
if (noPromtool) console.log(`# SKIP grafana-doc PromQL check: ${noPromtool}`);

test("every query of the Grafana dashboard is valid PromQL (promtool parses them as recording rules)", { skip: noPromtool }, () => {
  const dash = JSON.parse(readFileSync(new URL("../docs/grafana/halfopen.json", import.meta.url), "utf8")) as { panels: Panel[] };
  // Grafana's variables, as it would fill them in.
  const exprs = dash.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr.replaceAll("$__rate_interval", "5m").replaceAll("$instance", ".*")));
  const rules = `groups:\n  - name: grafana\n    rules:\n${exprs.map((e, i) => `      - record: grafana:q${i}\n        expr: ${JSON.stringify(e)}\n`).join("")}`;
  const dir = mkdtempSync(join(tmpdir(), "halfopen-grafana-"));
  try {
    writeFileSync(join(dir, "rules.yml"), rules);
    const r = spawnSync("promtool", ["check", "rules", join(dir, "rules.yml")], { encoding: "utf8" });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    assert.match(r.stdout, new RegExp(`SUCCESS: ${exprs.length} rules found`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
