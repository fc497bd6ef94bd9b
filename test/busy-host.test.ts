/**
 * Under CI the whole suite runs on a busy host (issue 31): .ci/run starts
 * test/support/busy-host.sh, a process in network namespace ho-busy making 500
 * connect attempts a second to addresses that never answer. This checks that
 * it is running, so a CI run that passes has passed busy. Elsewhere it runs
 * only when started by hand (`sudo test/support/busy-host.sh start`).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";

const running = spawnSync("ip", ["netns", "exec", "ho-busy", "ss", "-Htn", "state", "syn-sent"], { encoding: "utf8" });
const skip = process.env.CI || running.status === 0 ? false : "the busy host is not running (.ci/run starts it; by hand: sudo test/support/busy-host.sh start)";
if (skip) console.log(`# SKIP busy host check: ${skip}`);

test("the busy host makes its connect attempts for the whole run (ho-busy: hundreds in SYN_SENT at any time)", { skip }, () => {
  assert.equal(running.status, 0, `namespace ho-busy: ${running.stderr}`);
  const halfOpen = running.stdout.split("\n").filter(Boolean).length;
  assert.ok(halfOpen >= 100, `only ${halfOpen} attempts in SYN_SENT in ho-busy`);
});
