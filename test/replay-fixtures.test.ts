/**
 * The shipped captures (test/fixtures/records, real lab runs) replayed
 * through `watch --replay --json` give the incidents the live run printed,
 * field by field. No root: this is the path a colleague's capture takes.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RecordEncoder } from "../src/core/record-format.js";
import { spawnSync } from "node:child_process";
import { CLI, REPO, type JsonLine } from "./integration/watch-process.js";
import { comparable, replayIncidents } from "./integration/replay-helpers.js";

const DIR = `${REPO}test/fixtures/records/`;
const ARGS = ["--interval", "0", "--quiet", "0.5", "--no-store"];

/**
 * The shipped captures' incidents were printed before the scan verdicts
 * existed, so the verdict inside each process is left out of the comparison;
 * replay.test.ts compares verdicts between a live run and its replay, and the
 * test below checks the captures' verdicts.
 */
function withoutVerdicts(i: JsonLine): JsonLine {
  return withoutDroppedLocally({ ...i, processes: (i.processes as Record<string, unknown>[]).map(({ verdict: _v, ...p }) => p) });
}

/**
 * They also predate the `dropped-locally` outcome: a zero count of it (none of
 * their SYNs was dropped on the host) is left out; any other count stays and
 * would fail the comparison.
 */
function withoutDroppedLocally(i: JsonLine): JsonLine {
  const strip = (o: Record<string, number>) => {
    const { "dropped-locally": d, ...rest } = o;
    return d === 0 ? rest : o;
  };
  return { ...i, outcomes: strip(i.outcomes as Record<string, number>), processes: (i.processes as Record<string, unknown>[]).map((p) => ({ ...p, outcomes: strip(p.outcomes as Record<string, number>) })) };
}

function expected(name: string): JsonLine[] {
  const text = readFileSync(`${DIR}${name}.incidents.jsonl`, "utf8").trim();
  return text === "" ? [] : text.split("\n").map((l) => comparable(JSON.parse(l) as JsonLine));
}

for (const [name, incidents] of [
  ["scan", 1],
  ["browser-burst", 0],
  ["exit-mid-incident", 1],
] as const) {
  test(`replaying ${name}.jsonl gives the live run's incidents`, async () => {
    const want = expected(name);
    assert.equal(want.length, incidents, "the capture holds what its README says");
    const got = (await replayIncidents(`${DIR}${name}.jsonl`, ARGS)).map(comparable).map(withoutVerdicts);
    assert.deepEqual(got, want);
  });
}

test("the scan capture names its process with every attempt and calls it a scanner; the exit capture marks the quitter exited", async () => {
  const [scan] = await replayIncidents(`${DIR}scan.jsonl`, ARGS);
  const p = (scan?.processes as { name: string; attempts: number; outcomes: Record<string, number>; verdict?: unknown }[])[0];
  assert.deepEqual([p?.name, p?.attempts, p?.outcomes.aborted, scan?.peak], ["ho-scan", 40, 40, 40]);
  assert.deepEqual(p?.verdict, { verdict: "scanner", test: "trw", firstContacts: 4 }, "four unanswered first contacts: a scanner");
  const [exit] = await replayIncidents(`${DIR}exit-mid-incident.jsonl`, ARGS);
  const byName = Object.fromEntries((exit?.processes as { name: string; exited: boolean }[]).map((x) => [x.name, x.exited]));
  assert.deepEqual(byName, { "ho-quitter": true, "ho-stayer": false });
});

test("a replay at --speed 20 gives the same incidents as one as fast as possible", () => {
  const r = spawnSync(process.execPath, ["--import", "tsx", CLI, "watch", "--json", "--replay", `${DIR}exit-mid-incident.jsonl`, "--speed", "20", ...ARGS], { cwd: REPO, encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const got = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as JsonLine).filter((l) => l.type === "incident").map(comparable).map(withoutVerdicts);
  assert.deepEqual(got, expected("exit-mid-incident"));
});

test("a file that is not a record, or a bad line, is one error line with HALFOPEN_BAD_RECORD", () => {
  for (const [file, text] of [
    [`${DIR}README.md`, /line 1: not JSON/],
    [`${REPO}package.json`, /line 1: not JSON/],
  ] as const) {
    const r = spawnSync(process.execPath, ["--import", "tsx", CLI, "watch", "--replay", file, "--as-fast-as-possible"], { cwd: REPO, encoding: "utf8" });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, text);
    assert.match(r.stderr, /^halfopen: Cannot read the record at line \d+: [^\n]+ \[HALFOPEN_BAD_RECORD\]\n$/);
  }
  const missing = spawnSync(process.execPath, ["--import", "tsx", CLI, "watch", "--replay", "/nonexistent.jsonl"], { cwd: REPO, encoding: "utf8" });
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /^halfopen: Cannot read the recording "\/nonexistent\.jsonl": no such file \[HALFOPEN_BAD_USAGE\]\n$/);
  const speed = spawnSync(process.execPath, ["--import", "tsx", CLI, "watch", "--speed", "2"], { cwd: REPO, encoding: "utf8" });
  assert.equal(speed.status, 2);
  assert.match(speed.stderr, /Cannot use --speed without --replay FILE \[HALFOPEN_BAD_USAGE\]/);
});

test("the verdicts lab capture replays to the verdicts the live run printed: three scanners flagged, no benign workload", () => {
  const comm = "nmap,wl-slowscan,wl-worm,wl-browser,wl-crawler,wl-p2p,wl-health";
  const r = spawnSync(process.execPath, ["--import", "tsx", CLI, "watch", "--json", "--replay", `${DIR}verdicts-lab.jsonl`, "--as-fast-as-possible", "--no-store", "--interval", "0", "--limit", "100000", "--comm", comm], { cwd: REPO, encoding: "utf8", timeout: 60_000, maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr);
  const pick = (l: JsonLine) => [l.name, l.pid, l.verdict, l.test, l.firstContacts, l.time];
  const got = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as JsonLine).filter((l) => l.type === "verdict").map(pick);
  const live = readFileSync(`${DIR}verdicts-lab.verdicts.jsonl`, "utf8").trim().split("\n").map((l) => pick(JSON.parse(l) as JsonLine));
  assert.deepEqual(got, live);
  const scanners = new Set(got.filter((v) => v[2] === "scanner").map((v) => v[0]));
  assert.deepEqual([...scanners].sort(), ["nmap", "wl-slowscan", "wl-worm"]);
});

test("a replay ticks at every recorded tick, also one less than 10 ms after another: an incident closes when it did live", () => {
  // Live, a batch tick and a timer tick can come a few ms apart; the quiet close due between them came at the second.
  const enc = new RecordEncoder({ source: "tracefs", exact: true, startedAtWall: 0, wallOffsetMs: 0 });
  const p = { pid: 4242, name: "burst" };
  const dst = (port: number) => ({ address: "198.18.0.1", port });
  const connects = Array.from({ length: 11 }, (_, i) => ({ type: "connect" as const, time: 1000, sock: `s${i}`, pid: 4242, family: 4 as const, src: { address: "198.18.0.2", port: 40000 + i }, dst: dst(9000 + i), process: p }));
  const leaves = connects.map((c) => ({ type: "leave" as const, time: 1001, sock: c.sock, newState: 7, srcPort: c.src.port, inInterrupt: false }));
  // Quiet 100 ms: due at 1101. Ticks at 1095 and 1103 (8 ms apart), then 1150.
  const lines = [enc.header(), ...enc.events(connects), enc.tick(1000), ...enc.events(leaves), enc.tick(1001), enc.tick(1095), enc.tick(1103), enc.tick(1150), enc.end(1150)];
  const file = join(mkdtempSync(join(tmpdir(), "halfopen-ticks-")), "ticks.jsonl");
  writeFileSync(file, `${lines.join("\n")}\n`);
  return replayIncidents(file, ["--interval", "0", "--quiet", "0.1", "--no-store"]).then((incidents) => {
    assert.equal(incidents.length, 1);
    assert.equal(incidents[0]?.endedAt, 1103, "closed at the first tick past due, as live");
  });
});
