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

test("ls --by: one row per group with its process count; groups are not counted as unowned sockets", () => {
  const row = { halfOpen: 8, total: 8, states: { SYN_SENT: 8 }, remotes: ["198.18.0.1:10000"], distinctRemotes: 8, maxRetransmits: 1 };
  const text = formatLsText({
    type: "ls", source: "procfs", timeWall: 0, allStates: false, hostHalfOpen: 10, sockets: 10, halfOpen: 10, filtered: false, by: "container", warnings: [],
    processes: [
      { ...row, name: "docker b60b00f5e1a5", group: { by: "container", key: "docker:b60b" }, pids: [1, 2] },
      { ...row, halfOpen: 2, total: 2, name: "(host)", group: { by: "container", key: "(host)" }, pids: [3] },
    ],
  });
  const lines = text.split("\n");
  assert.equal(lines[0], "halfopen: 10 half-open connect attempts (procfs); 3 processes");
  assert.equal(lines[1], "GROUP (container)                PROCS  HALF OLDEST REMOTES");
  assert.match(lines[2] ?? "", /^docker b60b00f5e1a5 +2 +8 1 retr 198\.18\.0\.1:10000 \+7$/);
});

test("a remote a DNS answer named is shown by that name with its port, control characters escaped; the others by address", () => {
  const text = formatLsText(report({
    hostHalfOpen: 3,
    processes: [{ pid: 77, user: "root", name: "chromium", halfOpen: 3, total: 3, states: { SYN_SENT: 3 }, remotes: ["198.18.0.129:80", "[2001:2::5]:443", "198.18.0.9:80"], distinctRemotes: 3, remoteNames: { "198.18.0.129:80": "dead0.lab.test", "[2001:2::5]:443": "v6\u001b[2J.lab.test" } }],
  }));
  assert.match(text.split("\n")[2] ?? "", /dead0\.lab\.test:80 v6\\x1b\[2J\.lab\.test:443 198\.18\.0\.9:80$/);
});
