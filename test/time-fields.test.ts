/**
 * One meaning per JSON time field, on the real programs' output (docs/record-format.md, "Times in JSON"): `...Wall`
 * is ms since the epoch everywhere; other times are monotonic ms; the scan wing's older names (`startedAt`,
 * `endedAt`, `at`, `nextAt`) are kept one release and must say what their `...Wall` says. The page's records are
 * checked in src/dashboard/scans.test.ts, `--every`'s change lines and hook input in test/integration/scan.test.ts.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { changeRecord } from "../src/cli/scan/sinks.js";
import { summaryJson } from "../src/core/scan/model.js";
import { cli } from "./integration/watch-process.js";
import { FIXTURES } from "./support/fixtures.js";
import { quietPort } from "./support/net.js";
import { assertTimeFields, LEGACY_WALL_NAMES } from "./support/time-fields.js";

const tmp = mkdtempSync(join(tmpdir(), "halfopen-times-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const lines = (out: string) =>
  out
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);

test("watch --json: every record's times are monotonic, or ...Wall and epoch (each shipped capture replayed)", () => {
  const types = new Set<string>();
  let checked = 0;
  for (const name of ["exit-mid-incident", "browser-burst", "scan", "verdicts-lab"]) {
    const r = cli("watch", "--replay", `${FIXTURES}records/${name}.jsonl`, "--as-fast-as-possible", "--json", "--quiet", "0.5");
    assert.equal(r.status, 0, r.stderr);
    for (const rec of lines(r.stdout)) {
      types.add(String(rec.type));
      checked += assertTimeFields(`${name} ${String(rec.type)}`, rec);
    }
  }
  for (const t of ["start", "incident-open", "incident", "verdict", "stop"]) assert.ok(types.has(t), `saw a ${t} record`);
  assert.ok(checked > 50, `checked ${checked} time fields`);
});

test("scan --json, scans --json and scans show --json: ...Wall numbers; the old names say the same, one release", async () => {
  const db = join(tmp, "scans.db");
  const port = await quietPort();
  const before = Date.now();
  const scan = cli("scan", "-Pn", "127.0.0.1", "-p", String(port), "--json", "--db", db);
  const after = Date.now();
  assert.equal(scan.status, 0, scan.stderr);
  const [result] = lines(scan.stdout) as [{ summary: Record<string, number>; scanId: number }];
  assertTimeFields("scan --json", result, LEGACY_WALL_NAMES);
  const { startedAtWall, endedAtWall } = result.summary;
  assert.ok(before <= Number(startedAtWall) && Number(startedAtWall) <= Number(endedAtWall) && Number(endedAtWall) <= after, "the scan's own wall times");
  assert.equal(result.summary.startedAt, startedAtWall, "the old name, the same number");

  const list = cli("scans", "--json", "--db", db);
  assert.equal(list.status, 0, list.stderr);
  const [listed] = (JSON.parse(list.stdout) as { scans: Record<string, unknown>[] }).scans;
  assert.ok(listed);
  assertTimeFields("scans --json", listed, LEGACY_WALL_NAMES);
  assert.equal(typeof listed.startedAt, "string", "still an ISO string this release");
  assert.ok(Number(listed.startedAtWall) >= before && Number(listed.endedAtWall) <= Date.now());

  const show = cli("scans", "show", String(result.scanId), "--json", "--db", db);
  assert.equal(show.status, 0, show.stderr);
  const shown = JSON.parse(show.stdout) as { hosts: Record<string, unknown>[]; summary: Record<string, unknown> };
  assert.ok(assertTimeFields("scans show --json", shown, LEGACY_WALL_NAMES) >= 8, "the scan's, its summary's and its host's times");
  assert.equal(shown.hosts[0]?.startedAtWall, shown.hosts[0]?.startedAt);
  assert.equal(shown.summary.startedAtWall, startedAtWall);
});

test("the --every change lines and the --on-change input: atWall, and the ISO `at` of the same instant", () => {
  const summary = { total: 1, done: 1, skipped: 0, up: 1, down: 0, open: 1, unknown: 0, probes: 1, retries: 0, localErrors: 0, peakInFlight: 1, discovery: "none" as const, discoveryMs: 0, aborted: false, startedAt: 1_790_000_000_000, elapsedMs: 1500 };
  const record = changeRecord({ round: 2, ref: 2, hosts: [], summary, complete: true, changes: [{ change: "port-opened", address: "127.0.0.1", port: 8080, from: "closed", to: "open" }] } as never);
  assert.equal(record.atWall, 1_790_000_001_500);
  assert.equal(record.at, "2026-09-21T14:13:21.500Z");
  assertTimeFields("changes", record, LEGACY_WALL_NAMES);
  const json = summaryJson(summary, 10, 1);
  assert.deepEqual([json.startedAtWall, json.endedAtWall], [1_790_000_000_000, 1_790_000_001_500]);
  // A time named without Wall that holds an epoch number is what the convention forbids: the checker says so.
  assert.throws(() => assertTimeFields("bad", { type: "x", startedAt: Date.now() }), /is monotonic ms/);
  assert.throws(() => assertTimeFields("bad", { startedAtWall: 5 }), /is ms since the epoch/);
  assert.throws(() => assertTimeFields("bad", { startedAtWall: 1_790_000_000_000, startedAt: "2020-01-01T00:00:00Z" }, LEGACY_WALL_NAMES), /says what startedAtWall says/);
});
