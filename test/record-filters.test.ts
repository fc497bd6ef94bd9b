/**
 * Recordings honour the filters they were made with: what a filter leaves
 * out never reaches the file (another namespace's command lines stay out),
 * the header says which filters were in force, and a replay applies them
 * unless its command line gives its own. No root needed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ConnectionEvent, ProcessInfo } from "../src/core/events.js";
import { RecordSink } from "../src/cli/watch/record-sink.js";
import { cli } from "./integration/watch-process.js";

const dir = mkdtempSync(join(tmpdir(), "halfopen-recfilter-"));
const proc = (pid: number, name: string): ProcessInfo => ({ pid, name, cmdline: [name, "--secret-token=abc"], startTime: 1 });
const attempt = (t: number, p: ProcessInfo, sock: string, port: number): ConnectionEvent[] => [
  { type: "connect", time: t, sock, pid: p.pid, family: 4, src: { address: "127.0.0.1", port: 40000 + port }, dst: { address: "198.18.0.1", port }, process: p },
  { type: "retransmit", time: t + 1, sock },
  { type: "leave", time: t + 2, sock, newState: 7, inInterrupt: true },
];

test("a filtered recording holds only what the filter selects, and says which filter", () => {
  const path = join(dir, "filtered.jsonl");
  const a = proc(10, "ho-a");
  const b = proc(20, "ho-b");
  const sink = new RecordSink({ path, header: { source: "tracefs", exact: true, wallOffsetMs: 0, watch: { limit: 1, comm: ["ho-a"], filtered: true } }, publish: () => {}, filter: (p) => p.name === "ho-a" });
  sink.open();
  sink.events([...attempt(1, a, "s1", 1), ...attempt(1, b, "s2", 2), { type: "exit", time: 5, pid: 20, name: "ho-b" }, { type: "exit", time: 6, pid: 10, name: "ho-a" }]);
  sink.tick(7);
  sink.finish(8);
  const text = readFileSync(path, "utf8");
  assert.doesNotMatch(text, /ho-b/, "nothing of the process the filter left out: not its details, attempts or exit");
  assert.doesNotMatch(text, /"sock":"s2"/);
  assert.match(text, /"comm":\["ho-a"\]/);
  assert.equal(text.split("\n").filter((l) => l.includes('"t":"e"')).length, 4, "ho-a's connect, retransmit, leave and exit");
});

test("a replay applies the recorded filters (said once), unless the command line gives its own", () => {
  const header = { format: "halfopen-record", version: 1, source: "tracefs", exact: true, startedAtWall: 1_700_000_000_000, wallOffsetMs: 1_700_000_000_000, watch: { limit: 1, comm: ["ho-a"] } };
  const lines = [JSON.stringify(header)];
  let ref = 0;
  for (const [name, pid] of [
    ["ho-a", 10],
    ["ho-b", 20],
  ] as const) {
    lines.push(JSON.stringify({ t: "p", ref: ++ref, info: { pid, name, startTime: 1 } }));
    for (let i = 0; i < 2; i++) lines.push(JSON.stringify({ t: "e", e: { type: "connect", time: 1 + i, sock: `${name}${i}`, pid, family: 4, src: { address: "127.0.0.1", port: 40000 + pid + i }, dst: { address: "198.18.0.1", port: 9 }, process: ref } }));
  }
  lines.push(JSON.stringify({ t: "k", time: 10 }), JSON.stringify({ t: "end", time: 11 }));
  const path = join(dir, "replay.jsonl");
  writeFileSync(path, `${lines.join("\n")}\n`);
  const stopOf = (out: string) => out.trim().split("\n").map((l) => JSON.parse(l) as { type: string; attempts?: number; message?: string }).filter((l) => l.type === "stop" || l.type === "warning");
  const recorded = cli("watch", "--replay", path, "--as-fast-as-possible", "--json", "--interval", "0", "--limit", "1");
  assert.equal(recorded.status, 0, recorded.stderr);
  const r = stopOf(recorded.stdout);
  assert.equal(r.find((l) => l.type === "stop")?.attempts, 2, "only ho-a's two attempts");
  assert.equal(r.filter((l) => /recording was made with: --comm ho-a/.test(l.message ?? "")).length, 1);
  const own = cli("watch", "--replay", path, "--as-fast-as-possible", "--json", "--interval", "0", "--comm", "ho-a,ho-b");
  assert.equal(stopOf(own.stdout).find((l) => l.type === "stop")?.attempts, 4, "the command line's filters replace the recorded ones");
});
