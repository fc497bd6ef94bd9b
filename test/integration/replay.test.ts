/**
 * `watch --record` then `watch --replay`: a live lab run (a scan, a process
 * that exits mid-incident) recorded and replayed gives the same incidents:
 * ids, peaks, processes, attempts, outcomes, times. Root only (the live
 * part); the shipped captures are replayed without root in replay-fixtures.test.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeLab, LAB_ADDRESS, droppedPorts } from "./lab.js";
import { runConnector, WatchProcess, type JsonLine } from "./watch-process.js";
import { replayIncidents, comparable } from "./replay-helpers.js";



describeLab("watch --record and --replay (tracefs, netns lab)", { file: "integration/replay", prefix: "horeplay" }, (lab) => {
  test("a recorded live run replays to the same incidents", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "halfopen-rec-")), "run.jsonl");
    // Only the lab's namespace: the host may be busy with other connects.
    const args = ["--interval", "0", "--quiet", "0.5", "--no-store", "--netns", lab.name];
    const w = new WatchProcess([...args, "--record", file]);
    try {
      await w.waitFor((l) => l.type === "start");
      const scan = await runConnector(lab, { title: "ho-rec-scan", host: LAB_ADDRESS, ports: droppedPorts(25, 700), holdMs: 500 });
      await scan.exited;
      await w.waitFor((l) => l.type === "incident");
      // Two processes in one burst; one exits while the incident is open, the other after it closed.
      const a = await runConnector(lab, { title: "ho-rec-early", host: LAB_ADDRESS, ports: droppedPorts(8, 800), holdMs: 200 });
      const b = await runConnector(lab, { title: "ho-rec-late", host: LAB_ADDRESS, ports: droppedPorts(8, 900), holdMs: 900 });
      await Promise.all([a.exited, b.exited]);
      await w.waitFor((l) => l.type === "incident" && l.id === 2);
    } finally {
      await w.stop();
    }
    const live = w.incidents().map(comparable);
    assert.equal(live.length, 2);
    const header = JSON.parse(readFileSync(file, "utf8").split("\n")[0] as string) as Record<string, unknown>;
    assert.deepEqual([header.format, header.version, header.source, header.exact], ["halfopen-record", 1, "tracefs", true]);
    const replayed = await replayIncidents(file, args);
    assert.deepEqual(replayed.map(comparable), live, "same incidents, field by field");
    const second = replayed[1] as JsonLine;
    assert.deepEqual((second.processes as { name: string; exited: boolean }[]).map((p) => [p.name, p.exited]).sort(), [["ho-rec-early", true], ["ho-rec-late", false]]);
  });
});
