import { test } from "node:test";
import assert from "node:assert/strict";
import { type LsReport, formatLsText } from "./format.js";

const report = (over: Partial<LsReport>): LsReport => ({
  type: "ls", source: "procfs", timeWall: 0, allStates: false, hostHalfOpen: 40, sockets: 3, halfOpen: 3, filtered: false, processes: [], warnings: [], ...over,
});

test("the header counts the host's attempts, or with --pid/--comm the selected ones beside the host's", () => {
  assert.equal(formatLsText(report({})), "halfopen: 40 half-open connect attempts (procfs); 0 processes");
  assert.equal(formatLsText(report({ filtered: true })), "halfopen: 3 of 40 half-open connect attempts (procfs); 0 processes selected");
  assert.equal(formatLsText(report({ filtered: true, allStates: true })), "halfopen: 3 TCP sockets, 3 of 40 half-open (procfs); 0 processes selected");
});
