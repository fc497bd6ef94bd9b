/**
 * Every error case of issue 12 prints one `halfopen:` line with a stable code
 * and the documented exit code, never a stack trace: output into a closed
 * pipe, argument-parser errors, database paths that cannot hold incidents,
 * a summary interval that would flood the terminal.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { chmodSync, existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IncidentStore } from "../src/store/incident-store.js";
import { CLI, REPO, cli } from "./integration/watch-process.js";

const TSX = ["--import", "tsx", CLI];
const tmp = mkdtempSync(join(tmpdir(), "halfopen-errors-"));


/** Exactly one line on stderr: `halfopen: ... [CODE]`. */
function oneLine(stderr: string, code: string): void {
  assert.match(stderr, new RegExp(`^halfopen: [^\\n]+ \\[${code}\\]\\n$`), stderr);
}

/** Run the CLI with its stdout pipe closed before it writes: the write fails with EPIPE. */
async function intoClosedPipe(...args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [...TSX, ...args], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.destroy();
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, "exit")) as [number | null];
  return { code, stderr };
}

const db = join(tmp, "incidents.db");
{
  const store = IncidentStore.open({ path: db });
  const run = store.beginRun({ startedAt: Date.now(), pid: 1, hostname: "lab", source: "tracefs", limit: 10, version: "test" });
  const trigger = { attemptId: 1, pid: 42, name: "scan", time: 0, dst: "198.18.0.1:9" };
  const outcomes = { pending: 0, established: 0, refused: 0, timeout: 11, "dropped-locally": 0, aborted: 0, unknown: 0 };
  for (let i = 1; i <= 50; i++) {
    store.saveIncident(run, {
      id: i, state: "closed", limit: 10, startedAt: 0, startedAtWall: Date.now() - 1000 * i, endedAt: 1, endedAtWall: Date.now() - 1000 * i + 1, durationMs: 1,
      trigger, peak: 11, peakAt: 0, attempts: 11, outcomes, distinctDestinations: 1, distinctHosts: 1, destinationsCapped: false, topDestinations: [],
      processes: [], otherProcesses: 0, lostEvents: 0, osEvents: [], osEventsDropped: 0,
    });
  }
  store.close();
}

for (const args of [["ls"], ["incidents", "--db", db], ["incidents", "show", "1", "--db", db], ["watch", "--help"]]) {
  test(`${args.slice(0, 2).join(" ")} into a closed pipe: one line, exit 1, no stack trace`, async () => {
    const r = await intoClosedPipe(...args);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr, "halfopen: Cannot write to standard output (EPIPE): the reader closed it [HALFOPEN_OUTPUT_FAILED]\n");
  });
}

test("argument-parser errors are one halfopen line with the code, exit 2", () => {
  for (const [args, text] of [
    [["ls", "--bogus"], "Unknown option '--bogus'; see --help"],
    [["watch", "--limt", "3"], "Unknown option '--limt' (did you mean --limit?)"],
    [["incidents", "show"], "Missing required argument 'id'; see --help"],
    [["watch", "--limit"], "Option '-l, --limit <n>' argument missing; see --help"],
    [["frobnicate"], "Unknown command 'frobnicate'; see --help"],
  ] as const) {
    const r = cli(...args);
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.equal(r.stderr, `halfopen: ${text} [HALFOPEN_BAD_USAGE]\n`);
  }
});

test("the dashboard's options need --ui", () => {
  for (const option of [["--ui-port", "8080"], ["--no-ui-scans"], ["--ui-allow-remote"]]) {
    const r = cli("watch", "--replay", "test/fixtures/records/scan.jsonl", ...option);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr, "halfopen: Cannot use --ui-port, --ui-host, --ui-allow-remote, --ui-read-only, --ui-actions, --ui-tls-cert, --ui-tls-key or --no-ui-scans without --ui [HALFOPEN_BAD_USAGE]\n");
  }
});

test("--interval below 0.5 s (but not 0) is refused: it would flood the terminal", () => {
  const r = cli("watch", "--interval", "0.0001");
  assert.equal(r.status, 2);
  oneLine(r.stderr, "HALFOPEN_BAD_USAGE");
  assert.match(r.stderr, /Cannot use --interval "0\.0001": expected 0 \(no summaries\) or seconds from 0\.5 to 86400/);
});

test("database paths that cannot hold incidents are refused before anything is written", () => {
  const dir = mkdtempSync(join(tmpdir(), "halfopen-dbdir-"));
  for (const [path, code, text] of [
    ["", "HALFOPEN_BAD_USAGE", /expected a file path/],
    [":memory:", "HALFOPEN_BAD_USAGE", /nothing would be stored/],
    ["file:x.db?mode=memory", "HALFOPEN_BAD_USAGE", /nothing would be stored/],
    ["/dev/null", "HALFOPEN_BAD_USAGE", /not a regular file/],
    [dir, "HALFOPEN_BAD_USAGE", /is a directory/],
  ] as const) {
    for (const cmd of [["incidents"], ["watch", "--duration", "0", "--interval", "0"]]) {
      const r = cli(...cmd, "--db", path);
      assert.equal(r.status, 2, `${cmd[0]} --db "${path}": ${r.stderr}`);
      oneLine(r.stderr, code);
      assert.match(r.stderr, text);
    }
  }
  const nowhere = join(dir, "no", "such", "incidents.db");
  const r = cli("watch", "--duration", "0", "--interval", "0", "--db", nowhere);
  assert.equal(r.status, 2, r.stderr);
  oneLine(r.stderr, "HALFOPEN_BAD_USAGE");
  assert.match(r.stderr, /its directory ".*no\/such" does not exist/);
  assert.equal(existsSync(join(dir, "no")), false, "no directory was created for a path the user gave");
});

test("an unreadable database is called unreadable, not read-only", { skip: process.geteuid?.() === 0 ? undefined : "needs root to run as another user (setpriv)" }, () => {
  const file = join(tmp, "secret.db");
  writeFileSync(file, "");
  chmodSync(file, 0o600);
  chmodSync(tmp, 0o755);
  const r = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, ...TSX, "incidents", "--db", file], { cwd: REPO, encoding: "utf8" });
  assert.equal(r.status, 1, r.stderr);
  oneLine(r.stderr, "HALFOPEN_DB_UNREADABLE");
  assert.match(r.stderr, /cannot be read \(no permission\)/);
});

test("watch starts without its default database when that cannot be opened (a user with no writable home), with one warning; a --db the user named is still an error", { skip: process.geteuid?.() === 0 ? undefined : "needs root to run as another user (setpriv)" }, () => {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: "/nonexistent", XDG_STATE_HOME: "" };
  delete env.HALFOPEN_DB;
  const asNobody = ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, ...TSX, "watch", "--source", "procfs", "--duration", "1", "--interval", "0"];
  const r = spawnSync("setpriv", asNobody, { cwd: REPO, encoding: "utf8", env, timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout + r.stderr, /not storing incidents \(the database is unavailable\)/);
  assert.equal((r.stdout + r.stderr).match(/the incident database is unavailable \(.*\[HALFOPEN_DB_READONLY\]\): watching without storing/g)?.length, 1, "said once");
  const named = spawnSync("setpriv", [...asNobody, "--db", "/nonexistent/incidents.db"], { cwd: REPO, encoding: "utf8", env, timeout: 60_000 });
  assert.equal(named.status, 2, named.stderr);
});
