/**
 * The limiter against attempts that really stay half-open: connects from a
 * lab namespace to 198.18.0.1 ports where nftables drops the SYN. Witnessed
 * from outside the process by `halfopen watch` (tracefs) and by polling
 * `ss -tn state syn-sent` in the namespace. Root only; under CI a missing
 * prerequisite fails the run instead of skipping.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { promisify } from "node:util";
import { describeLab, LAB_ADDRESS, type Lab, droppedPorts } from "./lab.js";
import type { AttemptResult } from "./limited-connector.js";
import { REPO, runLabWorkload, WatchProcess, type JsonLine } from "./watch-process.js";


const run = promisify(execFile);

interface Done {
  attempts: AttemptResult[];
  elapsedMs: number;
  stats: { peakInFlight: number; established: number; failed: number };
}

function runWorkload(lab: Lab, spec: Record<string, unknown>): Promise<{ pid: number; done: Promise<Done> }> {
  return runLabWorkload<Done>(lab, ["--import", "tsx", `${REPO}test/integration/limited-connector.ts`, JSON.stringify(spec)]);
}

/** Poll the namespace's SYN_SENT sockets until stopped; returns the largest count seen. */
function pollSynSent(lab: Lab): { stop: () => Promise<{ max: number; polls: number }> } {
  let running = true;
  let max = 0;
  let polls = 0;
  const loop = (async () => {
    while (running) {
      const { stdout } = await run("ip", ["netns", "exec", lab.name, "ss", "-Htn", "state", "syn-sent"]);
      const count = stdout.split("\n").filter((l) => l.trim() !== "").length;
      max = Math.max(max, count);
      polls++;
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { max, polls };
    },
  };
}

describeLab("HalfOpenLimiter in the netns lab", { file: "integration/limiter", prefix: "holimit" }, (lab) => {
  async function witnessed(spec: Record<string, unknown>): Promise<{ done: Done; watch: WatchProcess; ss: { max: number; polls: number }; pid: number }> {
    const watch = new WatchProcess(["--interval", "0.5", "--quiet", "0.3", "--limit", "10", "--comm", String(spec.title)]);
    try {
      await watch.waitFor((l) => l.type === "start");
      const ssPoll = pollSynSent(lab);
      const workload = await runWorkload(lab, spec);
      const done = await workload.done;
      const ss = await ssPoll.stop();
      await new Promise((r) => setTimeout(r, 400));
      return { done, watch, ss, pid: workload.pid };
    } finally {
      await watch.stop();
    }
  }

  test("200 connects to dropped ports with maxHalfOpen 10 never have more than 10 in SYN_SENT", async () => {
    const { done, watch, ss, pid } = await witnessed({ title: "ho-limited", mode: "limiter", host: LAB_ADDRESS, ports: droppedPorts(200), maxHalfOpen: 10, connectTimeoutMs: 200 });
    assert.equal(done.attempts.length, 200);
    assert.ok(done.attempts.every((a) => a.result === "HALFOPEN_CONNECT_TIMEOUT"), "every attempt timed out on its own clock");
    assert.equal(done.stats.peakInFlight, 10);
    // The monitor saw every attempt and never more than 10 at once.
    assert.equal(watch.incidents("incident-open").length, 0, "no incident at --limit 10");
    const stop = watch.lines.find((l) => l.type === "stop") as JsonLine;
    const mine = (stop.processes as { pid: number; attempts: number }[]).find((p) => p.pid === pid);
    assert.equal(mine?.attempts, 200);
    // The exact witness of the peak: the monitor's per-period maximum, in kernel order.
    const peaks = watch.lines.filter((l) => l.type === "summary").map((l) => Number(l.maxHalfOpen));
    assert.ok(peaks.length >= 5, `${peaks.length} summaries`);
    assert.ok(Math.max(...peaks) <= 10 && Math.max(...peaks) >= 5, `the monitor saw at most ${Math.max(...peaks)} half-open`);
    // ss inside the namespace sees the same load. Its netlink dump is not atomic (a socket closed
    // during the dump and one opened after it can both be counted), so it is not the upper bound.
    assert.ok(ss.polls >= 5, `ss polled ${ss.polls} times`);
    assert.ok(ss.max >= 5, `ss saw at most ${ss.max} SYN_SENT`);
    // 200 / 10 slots × 200 ms each: at least 4 s.
    assert.ok(done.elapsedMs >= 3900, `took ${Math.round(done.elapsedMs)} ms`);
  });

  test("the same witnesses catch plain net.connect going over the limit", async () => {
    // Each connect is held 3 s, far longer than issuing 200 takes on a busy machine: all 200 are half-open together.
    const { done, watch, ss } = await witnessed({ title: "ho-unlimited", mode: "plain", host: LAB_ADDRESS, ports: droppedPorts(200, 200), maxHalfOpen: 10, connectTimeoutMs: 3000 });
    assert.equal(done.attempts.length, 200);
    const incidents = watch.incidents();
    assert.equal(incidents.length, 1);
    assert.equal(incidents[0]!.peak, 200, "every plain connect was half-open at once");
    assert.ok(ss.max > 10, `ss saw ${ss.max}`);
  });

  test("a queued attempt is not timed out by its wait, and a queued dropped one gets its full timeout", async () => {
    const { done } = await witnessed({ title: "ho-wait", mode: "limiter", host: LAB_ADDRESS, ports: [...droppedPorts(4, 400), 8080], maxHalfOpen: 2, connectTimeoutMs: 300, listen: 8080 });
    const [a, b, c, d, open] = done.attempts;
    // a and b start at once and time out at 300 ms.
    for (const x of [a!, b!]) {
      assert.equal(x.result, "HALFOPEN_CONNECT_TIMEOUT");
      assert.ok(x.waitedMs! < 50, `waited ${x.waitedMs}`);
    }
    // c and d wait ~300 ms, then still get their full 300 ms.
    for (const x of [c!, d!]) {
      assert.equal(x.result, "HALFOPEN_CONNECT_TIMEOUT");
      assert.ok(x.waitedMs! >= 280, `waited ${x.waitedMs}`);
      assert.ok(x.connectMs! >= 290 && x.totalMs >= 580, `ran ${Math.round(x.connectMs!)} ms of ${Math.round(x.totalMs)} ms`);
    }
    // The open port waits two rounds (~600 ms, twice connectTimeoutMs) and still connects.
    assert.equal(open!.result, "connect");
    assert.ok(open!.waitedMs! >= 570, `open waited ${open!.waitedMs}`);
  });
});
