import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { checkKill, type ProcessIdentity } from "./kill-policy.js";

const SELF = 5000;
const PARENT = 4999;
const scan: ProcessIdentity = { pid: 4242, name: "scan", startTime: 777, ppid: 1 };

function check(pid: number, current: ProcessIdentity | undefined, expected?: { name: string; startTime?: number }, requireStartTime = false) {
  return checkKill({ pid, current, ...(expected ? { expected } : {}), requireStartTime, self: SELF, parent: PARENT });
}

test("never init, a process group, halfopen itself, its parent or a kernel thread", () => {
  for (const [pid, current, reason] of [
    [1, { pid: 1, name: "systemd", startTime: 1, ppid: 0 }, /init/],
    [0, undefined, /not a single process/],
    [-1, undefined, /not a single process/],
    [SELF, { pid: SELF, name: "node", startTime: 5 }, /halfopen itself/],
    [PARENT, { pid: PARENT, name: "bash", startTime: 4 }, /parent/],
    [2, { pid: 2, name: "kthreadd", startTime: 0, ppid: 0 }, /kernel thread/],
    [77, { pid: 77, name: "kworker/0:1", startTime: 3, ppid: 2 }, /kernel thread/],
  ] as const) {
    const r = check(pid, current);
    assert.equal(r.ok, false, String(pid));
    if (!r.ok) {
      assert.equal(r.code, "HALFOPEN_REFUSED");
      assert.match(r.reason, reason);
    }
  }
});

test("a pid reused by another process is refused; the same process is allowed", () => {
  const reused = check(4242, { pid: 4242, name: "sshd", startTime: 900, ppid: 1 }, { name: "scan", startTime: 777 });
  assert.equal(reused.ok, false);
  if (!reused.ok) assert.match(reused.reason, /reused/);
  assert.deepEqual(check(4242, scan, { name: "scan", startTime: 777 }), { ok: true });
  // The same start time under a new name (exec) is the same process.
  assert.deepEqual(check(4242, { ...scan, name: "scan2" }, { name: "scan", startTime: 777 }), { ok: true });
});

test("from a record without a start time, identity cannot be proved: refused when required", () => {
  const r = check(4242, scan, { name: "scan" }, true);
  assert.equal(r.ok, false);
  if (!r.ok) assert.match(r.reason, /no start time/);
  assert.deepEqual(check(4242, scan, { name: "scan" }, false), { ok: true });
});

test("a pid with no process is NOT_FOUND, naming who exited", () => {
  const r = check(4242, undefined, { name: "scan", startTime: 777 });
  assert.deepEqual(r.ok ? undefined : [r.code, /scan has exited/.test(r.reason)], ["HALFOPEN_NOT_FOUND", true]);
});

test("property: allowed only when the start times match (or none is expected) and the pid is not protected", () => {
  fc.assert(
    fc.property(fc.integer({ min: -2, max: 6000 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 }), fc.boolean(), (pid, nowStart, wantStart, expect) => {
      const current = { pid, name: "x", startTime: nowStart, ppid: 1 };
      const r = check(pid, current, expect ? { name: "x", startTime: wantStart } : undefined);
      const protectedPid = pid <= 2 || pid === SELF || pid === PARENT;
      assert.equal(r.ok, !protectedPid && (!expect || nowStart === wantStart));
    }),
  );
});
