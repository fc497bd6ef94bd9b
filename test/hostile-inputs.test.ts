/**
 * Hostile and careless inputs to the CLI (issue 25): recordings that lie
 * about their types, huge or endless files, tampered resume journals, and
 * output paths that name the run's own inputs or database. Each gets one
 * line with a stable code, no stack trace, and nothing is overwritten.
 * No root needed; nothing leaves 127.0.0.1.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, openSync, closeSync, readFileSync, statSync, writeFileSync, writeSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { journalHeader, journalHost, type ScanSpec } from "../src/core/scan/journal.js";
import { cli, CLI, REPO } from "./integration/watch-process.js";

const dir = mkdtempSync(join(tmpdir(), "halfopen-hostile-"));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

/** One stderr line ending in the code; no stack. */
function coded(r: { status: number | null; stderr: string }, code: string, status: number, pattern?: RegExp): void {
  assert.equal(r.status, status, r.stderr);
  assert.match(r.stderr, new RegExp(`^halfopen: .*\\[${code}\\]\\n$`), r.stderr);
  assert.doesNotMatch(r.stderr, /\n\s+at |unexpected error/);
  if (pattern) assert.match(r.stderr, pattern);
}

const HEADER = JSON.stringify({ format: "halfopen-record", version: 1, source: "tracefs", exact: true, startedAtWall: 1, wallOffsetMs: 0 });
const PROC = JSON.stringify({ t: "p", ref: 1, info: { pid: 7, name: "x", cmdline: ["x"] } });
const connect = (e: Record<string, unknown>) => JSON.stringify({ t: "e", e: { type: "connect", time: 1, sock: "a", pid: 7, family: 4, src: { address: "127.0.0.1", port: 1 }, dst: { address: "127.0.0.1", port: 9 }, process: 1, ...e } });

describe("hostile recordings: one coded line each, for watch --replay and simulate replay", () => {
  const cases: [string, string, RegExp][] = [
    ["no-dst", `${HEADER}\n${PROC}\n${connect({ dst: undefined })}\n`, /line 3: the connect event has no valid "dst"/],
    ["dst-address-number", `${HEADER}\n${PROC}\n${connect({ dst: { address: 5, port: 9 } })}\n`, /no valid "dst"/],
    ["name-number", `${HEADER}\n${JSON.stringify({ t: "p", ref: 1, info: { pid: 7, name: 5 } })}\n`, /line 2: the process details have no valid "name"/],
    ["cmdline-string", `${HEADER}\n${JSON.stringify({ t: "p", ref: 1, info: { pid: 7, name: "x", cmdline: "rm -rf /" } })}\n`, /no valid "cmdline"/],
    ["header-wall-string", `${HEADER.replace('"startedAtWall":1', '"startedAtWall":"yesterday"')}\n`, /line 1: the header's "startedAtWall"/],
    ["version-string", `${HEADER.replace('"version":1', '"version":"1"')}\n`, /"version" must be a whole number \(got "1"\)/],
    ["exe-deep", `${HEADER}\n{"t":"p","ref":1,"info":{"pid":7,"name":"x","exe":${"[".repeat(200_000)}${"]".repeat(200_000)}}}\n`, /line 2: /],
    ["escapes", `${HEADER}\n\u001b[31m\u0000bad\n`, /not JSON .*\\x1b\[31m\\x00bad/],
  ];
  for (const [name, text, pattern] of cases) {
    test(name, () => {
      const path = file(`${name}.jsonl`, text);
      const watch = cli("watch", "--replay", path, "--as-fast-as-possible", "--interval", "0", "--no-store");
      coded({ status: watch.status, stderr: watch.stderr.split("\n").filter((l) => !/^halfopen: (replaying|not storing|note)/.test(l) && l !== "").join("\n") + "\n" }, "HALFOPEN_BAD_RECORD", 1, pattern);
      // eslint-disable-next-line no-control-regex
      assert.doesNotMatch(watch.stderr, /\u001b|\u0000/, "no raw escape or NUL from the file");
      const sim = cli("simulate", "replay", path);
      coded(sim, "HALFOPEN_BAD_RECORD", 1, pattern);
    });
  }

  test("a line past 1 MiB is refused before it is held whole; /dev/zero and a FIFO are refused unread", () => {
    const long = file("long.jsonl", `${HEADER}\n${"a".repeat(3 * 1024 * 1024)}\n`);
    for (const args of [["watch", "--replay", long, "--no-store"], ["simulate", "replay", long]]) coded(cli(...args), "HALFOPEN_INPUT_TOO_LARGE", 1, /line 2 is longer than 1,048,576 bytes/);
    for (const args of [["watch", "--replay", "/dev/zero", "--no-store"], ["simulate", "replay", "/dev/zero"]]) coded(cli(...args), "HALFOPEN_BAD_USAGE", 2, /it is a device, not a regular file/);
    const fifo = join(dir, "fifo");
    spawnSync("mkfifo", [fifo]);
    coded(cli("simulate", "replay", fifo), "HALFOPEN_BAD_USAGE", 2, /it is a FIFO/);
  });

  test("a torn last line is cut off and said; the rest replays", () => {
    const path = file("torn.jsonl", `${HEADER}\n${PROC}\n${connect({})}\n{"t":"k","time":2}\n{"t":"e","e":{"type":"exi`);
    const r = cli("watch", "--replay", path, "--as-fast-as-possible", "--interval", "0", "--no-store", "--json");
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /"line 5\)? ?|the last line of .*torn\.jsonl \(line 5\) is cut short/);
    const stop = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { type: string; attempts?: number }).find((l) => l.type === "stop");
    assert.equal(stop?.attempts, 1, "the whole lines before it replayed");
    const sim = cli("simulate", "replay", path, "--json");
    assert.equal(sim.status, 0, sim.stderr);
  });
});

describe("scan: unbounded inputs", () => {
  test("-iL of a 200 MB list is refused early, with RSS far below 200 MB; a device or a FIFO is refused unread", async () => {
    const big = join(dir, "big.txt");
    const fd = openSync(big, "w");
    const block = Buffer.from(Array.from({ length: 65_536 }, (_, i) => `198.18.${(i >> 8) & 255}.${i & 255}\n`).join(""));
    for (let written = 0; written < 200 * 1024 * 1024; written += block.length) writeSync(fd, block);
    closeSync(fd);
    const child = spawn(process.execPath, ["--import", "tsx", CLI, "scan", "-iL", big, "-p", "9", "--no-store"], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    let peakKb = 0;
    const sample = setInterval(() => {
      try {
        peakKb = Math.max(peakKb, Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))?.[1] ?? 0));
      } catch {
        // exited
      }
    }, 20);
    const status = await new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    clearInterval(sample);
    coded({ status, stderr }, "HALFOPEN_INPUT_TOO_LARGE", 1, /more than 250,000 entries \(at line 250001\)/);
    if (process.platform === "linux") assert.ok(peakKb > 0 && peakKb < 200 * 1024, `peak RSS ${Math.round(peakKb / 1024)} MB`);
    coded(cli("scan", "-iL", "/dev/zero", "--no-store"), "HALFOPEN_BAD_USAGE", 2, /it is a device/);
    const fifo = join(dir, "targets.fifo");
    spawnSync("mkfifo", [fifo]);
    coded(cli("scan", "-iL", fifo, "--no-store"), "HALFOPEN_BAD_USAGE", 2, /it is a FIFO/);
    const longLine = file("long-line.txt", `${"1".repeat(3 * 1024 * 1024)}\n`);
    const r = cli("scan", "-iL", longLine, "--no-store");
    coded(r, "HALFOPEN_INPUT_TOO_LARGE", 1, /line 1 is longer than 65,536 bytes/);
    assert.ok(r.stderr.length < 500, "the message does not echo the line");
  });

  test("a huge target on the command line is quoted cut short", () => {
    const r = cli("scan", "x".repeat(100_000) + "!", "--no-store");
    coded(r, "HALFOPEN_BAD_TARGET", 2);
    assert.ok(r.stderr.length < 500, `stderr is ${r.stderr.length} characters`);
  });

  test("simulate scan --targets: the top of its range runs; ten million is refused at once", () => {
    coded(cli("simulate", "scan", "--targets", "10000000"), "HALFOPEN_BAD_USAGE", 2, /from 0 to 1000000/);
  });
});

describe("scan --resume: a tampered journal is refused", () => {
  const spec: ScanSpec = { targets: ["127.0.0.1"], exclude: [], ports: [9], discovery: "none", maxHalfOpen: 10, retries: 1 };
  const journal = (name: string, s: unknown, hosts: string[] = []) =>
    file(name, `${journalHeader(s as ScanSpec, 1).trimEnd()}\n${hosts.map((a) => journalHost({ address: a, family: 4, status: "down", reason: "no-response", ports: [], startedAt: 1, endedAt: 2 } as never)).join("")}`);
  for (const [name, s, pattern] of [
    ["shard-zero", { ...spec, shard: { index: 1, count: 0 } }, /shard that is not k\/n/],
    ["shard-negative", { ...spec, shard: { index: -1, count: -3 } }, /shard that is not k\/n/],
    ["retries", { ...spec, retries: 1e9 }, /retries outside 0-20/],
    ["budget", { ...spec, maxHalfOpen: 1e7 }, /maxHalfOpen outside 1-100000/],
    ["bad-target", { ...spec, targets: ["300.1.1.1"] }, /names a target the scanner refuses/],
  ] as const) {
    test(name, () => coded(cli("scan", "--resume", journal(`${name}.jsonl`, s), "--no-store"), "HALFOPEN_BAD_RESUME", 1, pattern));
  }
  test("0.0.0.0/0 still needs --yes; a host that was never a target; a FIFO", () => {
    coded(cli("scan", "--resume", journal("huge.jsonl", { ...spec, targets: ["0.0.0.0/0"] }), "--no-store"), "HALFOPEN_NEEDS_CONFIRMATION", 2, /4,294,967,296 addresses/);
    coded(cli("scan", "--resume", journal("stray.jsonl", spec, ["198.18.0.9"]), "--no-store"), "HALFOPEN_BAD_RESUME", 1, /a result for 198\.18\.0\.9, which is not among its scan's targets/);
    const fifo = join(dir, "journal.fifo");
    spawnSync("mkfifo", [fifo]);
    coded(cli("scan", "--resume", fifo, "--no-store"), "HALFOPEN_BAD_RESUME", 1, /it is a FIFO/);
  });
});

describe("output paths that would destroy the run's own files", () => {
  test("scan -oX over the database, the journal or the target list; watch --record over the database: refused, nothing written", () => {
    const db = join(dir, "collide.db");
    coded(cli("scan", "-Pn", "127.0.0.1", "-p", "9", "--db", db, "-oX", db), "HALFOPEN_PATH_COLLISION", 2, /-oX .* same file as --db|--db .* same file as -oX/);
    assert.equal(existsSync(db), false, "nothing was created");
    const j = journal2();
    const before = readFileSync(j, "utf8");
    coded(cli("scan", "--resume", j, "-oX", j, "--no-store"), "HALFOPEN_PATH_COLLISION", 2);
    assert.equal(readFileSync(j, "utf8"), before, "the journal is untouched");
    const list = file("list.txt", "127.0.0.1\n");
    coded(cli("scan", "-Pn", "-iL", list, "-p", "9", "-oX", list, "--no-store"), "HALFOPEN_PATH_COLLISION", 2);
    assert.equal(readFileSync(list, "utf8"), "127.0.0.1\n");
    const wdb = file("watch.db", "");
    coded(cli("watch", "--source", "procfs", "--db", wdb, "--record", wdb, "--duration", "1"), "HALFOPEN_PATH_COLLISION", 2);
    assert.equal(statSync(wdb).size, 0);
  });
  function journal2(): string {
    return file("j.jsonl", journalHeader({ targets: ["127.0.0.1"], exclude: [], ports: [9], discovery: "none", maxHalfOpen: 10, retries: 1 }, 1));
  }
});

describe("the database is private", () => {
  test("a new --db file (and its WAL) is readable by its owner only", () => {
    const db = join(dir, "new.db");
    const r = cli("scan", "-Pn", "127.0.0.1", "-p", "9", "--db", db);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(statSync(db).mode & 0o777, 0o600);
    for (const side of [`${db}-wal`, `${db}-shm`]) if (existsSync(side)) assert.equal(statSync(side).mode & 0o077, 0, side);
  });
});

describe("exit codes that say what happened", () => {
  test("a scan stopped with Ctrl-C exits 130 (as nmap does) and prints what it found", async () => {
    // 65,536 loopback addresses, one port: long enough to be interrupted; every connect is refused at once (no traffic leaves the host).
    const child = spawn(process.execPath, ["--import", "tsx", CLI, "scan", "-Pn", "127.1.0.0/16", "-p", "9", "--yes", "--no-store", "--max-half-open", "4"], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    // Interrupt once the scan is under way (its process has loaded and started connecting).
    await new Promise((r) => setTimeout(r, 200));
    for (let i = 0; i < 100 && !stderr && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    await new Promise((r) => setTimeout(r, 1500));
    child.kill("SIGINT");
    const code = await new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    assert.equal(code, 130, stderr);
    assert.match(out, /halfopen: interrupted after \d+\/65536 addresses/);
  });

  test("answering no to kill exits 2, and the process lives", { skip: spawnSync("script", ["--version"]).status === 0 ? false : "needs script (util-linux)" }, async () => {
    const victim = spawn("sleep", ["30"], { stdio: "ignore" });
    try {
      // A terminal for the prompt: script(1) runs the command on a pseudo-terminal; "n" answers.
      const r = spawnSync("script", ["-qec", `${process.execPath} --import tsx ${CLI} kill ${victim.pid}`, "/dev/null"], { cwd: REPO, input: "n\n", encoding: "utf8", timeout: 30_000 });
      assert.equal(r.status, 2, r.stdout);
      assert.match(r.stdout, /not confirmed; nothing was done/);
      assert.equal(victim.exitCode, null, "still running");
    } finally {
      victim.kill("SIGKILL");
    }
  });
});
