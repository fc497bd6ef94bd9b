import { test } from "node:test";
import assert from "node:assert/strict";
import { parseDuration, parseTimePoint } from "./duration.js";
import { HalfOpenError } from "../errors.js";

const NOW = Date.parse("2026-11-21T12:00:00Z");

test("durations: units ms understands, never a bare number", () => {
  assert.equal(parseDuration("--retain", "90s"), 90_000);
  assert.equal(parseDuration("--retain", "15m"), 900_000);
  assert.equal(parseDuration("--retain", "1.5h"), 5_400_000);
  assert.equal(parseDuration("--retain", "2d"), 172_800_000);
  assert.equal(parseDuration("--retain", "1w"), 604_800_000);
  for (const bad of ["30", "", "soon", "-1h", "0s", "1x"]) {
    assert.throws(() => parseDuration("--retain", bad), (e: unknown) => e instanceof HalfOpenError && e.code === "HALFOPEN_BAD_USAGE" && e.message.includes(`"${bad}"`), bad);
  }
});

test("time points: a duration ago, or an ISO date (local midnight) or date-time", () => {
  assert.equal(parseTimePoint("--since", "1h", NOW), NOW - 3_600_000);
  assert.equal(parseTimePoint("--since", "2026-11-21T08:00Z", NOW), Date.parse("2026-11-21T08:00:00Z"));
  assert.equal(parseTimePoint("--since", "2026-11-21T08:00+02:00", NOW), Date.parse("2026-11-21T06:00:00Z"));
  assert.equal(parseTimePoint("--since", "2026-11-21", NOW), new Date(2026, 10, 21, 0, 0, 0).getTime());
  assert.equal(parseTimePoint("--since", "2026-11-21 08:30", NOW), new Date(2026, 10, 21, 8, 30, 0).getTime());
  for (const bad of ["yesterday", "2026-13-45", "2026-11-21T25:00", "21.11.2026", "1"]) {
    assert.throws(() => parseTimePoint("--since", bad, NOW), (e: unknown) => e instanceof HalfOpenError && e.code === "HALFOPEN_BAD_USAGE" && /expected a duration ago/.test(e.message), bad);
  }
});
