import { test } from "node:test";
import assert from "node:assert/strict";
import { cli } from "./integration/watch-process.js";


test("bad values exit 2 with the option, the value and a stable code, no stack", () => {
  for (const [args, pattern] of [
    [["watch", "--limit", "x"], /Cannot use --limit "x": expected a whole number from 0 to 1000000 \[HALFOPEN_BAD_USAGE\]/],
    [["watch", "--quiet", "-1"], /Cannot use --quiet "-1"/],
    [["watch", "--source", "dtrace"], /Cannot use --source "dtrace": expected one of tracefs/],
    [["watch", "--pid", "0"], /Cannot use --pid "0"/],
  ] as const) {
    const r = cli(...args);
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
  const unknown = cli("watch", "--bogus");
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /^halfopen: Unknown option '--bogus'; see --help \[HALFOPEN_BAD_USAGE\]\n$/);
});

test("--help documents the watch options and exit codes", () => {
  const r = cli("watch", "--help");
  assert.equal(r.status, 0);
  for (const opt of ["--limit", "--quiet", "--interval", "--pid", "--comm", "--json", "--source", "--duration"]) assert.match(r.stdout, new RegExp(opt));
  assert.match(r.stdout, /Exit codes: 0 ok, 1 failure, 2 bad usage, 3 needs privileges or a tool/);
  assert.match(r.stdout, /--poll/);
});

test("ls: bad combinations exit 2 with a stable code; --help documents the options", () => {
  for (const [args, pattern] of [
    [["ls", "--json", "--csv"], /Cannot use --json and --csv together/],
    [["ls", "--source", "tracefs"], /Cannot use --source "tracefs" with ls/],
    [["ls", "--source", "dtrace"], /Cannot use --source "dtrace"/],
    [["ls", "--sample", "x"], /Cannot use --sample "x"/],
  ] as const) {
    const r = cli(...args);
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.match(r.stderr, /\[HALFOPEN_BAD_USAGE\]/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
  const help = cli("ls", "--help");
  assert.equal(help.status, 0);
  for (const opt of ["--all-states", "--json", "--csv", "--source", "--pid", "--comm"]) assert.match(help.stdout, new RegExp(opt));
  for (const line of help.stdout.split("\n")) assert.ok(line.length <= 80, `help fits 80 columns: ${line}`);
});

test("ls --json always has a processes array, even with nothing half-open", () => {
  const r = cli("ls", "--json", "--pid", "999999999");
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { processes: unknown[]; hostHalfOpen: number; source: string };
  assert.deepEqual(j.processes, []);
  assert.equal(typeof j.hostHalfOpen, "number");
  assert.equal(j.source, "procfs");
});

import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { IncidentStore } from "../src/store/incident-store.js";
import { makeIncident } from "./support/incidents.js";
import { proc } from "./support/events.js";

const tmp = mkdtempSync(join(tmpdir(), "halfopen-cli-"));
// `scan` stores its scans by default: in this test's own database, never the machine's.
process.env.HALFOPEN_DB = join(tmp, "default.db");

function noStack(stderr: string): void {
  assert.doesNotMatch(stderr, /\n\s+at /, "no stack trace");
}

test("incidents: bad --since, --until and combinations exit 2 with a stable code", () => {
  for (const [args, pattern] of [
    [["incidents", "--since", "yesterday"], /Cannot use --since "yesterday": expected a duration ago/],
    [["incidents", "--until", "2026-13-40"], /Cannot use --until "2026-13-40"/],
    [["incidents", "--since", "1h", "--until", "2h"], /the start is after the end/],
    [["incidents", "--json", "--csv"], /--json and --csv together/],
    [["incidents", "show", "x"], /Cannot use <id> "x"/],
    [["watch", "--retain", "forever"], /Cannot use --retain "forever"/],
    [["watch", "--metrics-port", "70000"], /Cannot use --metrics-port "70000"/],
    [["kill", "1", "--signal", "USR9"], /Cannot use --signal "USR9"/],
    [["close", "1", "--dst", "not-an-ip"], /Cannot use --dst "not-an-ip"/],
  ] as const) {
    const r = cli(...args, "--db", join(tmp, "unused.db"));
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.match(r.stderr, /\[HALFOPEN_BAD_USAGE\]/);
    noStack(r.stderr);
  }
});

test("incidents: a missing, a corrupt and a foreign database each get their own code and exit 1", () => {
  const missing = cli("incidents", "--db", join(tmp, "nothing-here.db"));
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /No incident database at .*nothing-here\.db.*\[HALFOPEN_DB_MISSING\]/);
  const garbage = join(tmp, "garbage.db");
  writeFileSync(garbage, "GIF89a not sqlite at all ".repeat(100));
  const corrupt = cli("incidents", "--db", garbage);
  assert.equal(corrupt.status, 1);
  assert.match(corrupt.stderr, /corrupt or is not a SQLite database.*\[HALFOPEN_DB_CORRUPT\]/);
  noStack(corrupt.stderr);
  const show = cli("incidents", "show", "1", "--db", garbage);
  assert.equal(show.status, 1);
  assert.match(show.stderr, /HALFOPEN_DB_CORRUPT/);
});

test("incidents: list, CSV, JSON and show read what was stored; an unknown id is NOT_FOUND", () => {
  const db = join(tmp, "history.db");
  const store = IncidentStore.open({ path: db });
  const run = store.beginRun({ startedAt: Date.now(), pid: 1, hostname: "lab", source: "tracefs", limit: 10, version: "test" });
  const now = Date.now();
  const a = store.saveIncident(run, makeIncident(proc(4242, "scan", { cmdline: ["./scan", "198.18.0.0/15"] }), 30, now - 7_200_000));
  const b = store.saveIncident(run, { ...makeIncident(proc(666, "=x\x1b[2J|calc"), 12, now - 60_000), id: 2 });
  store.close();
  const list = cli("incidents", "--db", db, "--width", "80");
  assert.equal(list.status, 0, list.stderr);
  const lines = list.stdout.trimEnd().split("\n");
  assert.equal(lines.length, 3);
  assert.ok(lines.every((l) => l.length <= 80), list.stdout);
  assert.match(lines[1] ?? "", new RegExp(`^\\s+${b} .* 12 .*\\\\x1b\\[2J`), "newest first; escape shown, not sent");
  assert.match(lines[2] ?? "", new RegExp(`^\\s+${a} .* 30 scan\\[4242\\]`));
  assert.ok(!list.stdout.includes("\x1b"), "no raw escape reaches the terminal");
  const recent = cli("incidents", "--db", db, "--since", "1h", "--json");
  const json = JSON.parse(recent.stdout) as { incidents: { id: number; attempts: number; processes: { name: string }[] }[] };
  assert.deepEqual(json.incidents.map((i) => [i.id, i.attempts]), [[b, 12]]);
  const byComm = JSON.parse(cli("incidents", "--db", db, "--comm", "scan", "--json").stdout) as typeof json;
  assert.deepEqual(byComm.incidents.map((i) => i.id), [a]);
  const csv = cli("incidents", "--db", db, "--csv").stdout.split("\n");
  assert.match(csv[0] ?? "", /^id,state,started,ended,duration_s,limit,peak,attempts,/);
  assert.ok((csv[1] ?? "").includes(",'=x\\x1b[2J|calc,"), "a formula-looking name is neutralized in CSV, its escape shown, not sent");
  assert.ok(!csv.join("\n").includes("\x1b"), "no raw escape byte in CSV");
  const show = cli("incidents", "show", String(a), "--db", db, "--width", "80");
  assert.equal(show.status, 0, show.stderr);
  assert.match(show.stdout, new RegExp(`^INCIDENT ${a} \\(closed\\): peak 30 half-open \\(limit 10\\)`));
  assert.match(show.stdout, /cmd: \.\/scan 198\.18\.0\.0\/15/);
  assert.match(show.stdout, /sampled attempts:\n {2}scan\[4242\], 10 of 30/);
  assert.ok(show.stdout.split("\n").every((l) => l.length <= 80));
  const none = cli("incidents", "show", "999", "--db", db);
  assert.equal(none.status, 1);
  assert.match(none.stderr, /No incident 999 .*\[HALFOPEN_NOT_FOUND\]/);
});

test("kill refuses PID 1 and its own parent, and without a terminal asks for --yes", async () => {
  const init = cli("kill", "1", "--yes");
  assert.equal(init.status, 1);
  assert.match(init.stderr, /Will not end PID 1: PID 1 is init.*\[HALFOPEN_REFUSED\]/);
  const parent = cli("kill", String(process.pid), "--yes");
  assert.equal(parent.status, 1);
  assert.match(parent.stderr, /halfopen's parent.*\[HALFOPEN_REFUSED\]/);
  const sleeper = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)"], { stdio: "ignore" });
  try {
    const r = cli("kill", String(sleeper.pid));
    assert.equal(r.status, 2);
    assert.match(r.stderr, /stdin is not a terminal.*--yes.*\[HALFOPEN_NEEDS_CONFIRMATION\]/);
    assert.equal(sleeper.exitCode, null);
    assert.equal(sleeper.signalCode, null, "not signalled");
    const yes = cli("kill", String(sleeper.pid), "--yes", "--json");
    assert.equal(yes.status, 0, yes.stderr);
    assert.deepEqual(JSON.parse(yes.stdout), { type: "kill", pid: sleeper.pid, name: "node", signal: "SIGTERM", result: "exited", waitedMs: (JSON.parse(yes.stdout) as { waitedMs: number }).waitedMs });
    const [, signal] = (await once(sleeper, "exit")) as [number | null, string | null];
    assert.equal(signal, "SIGTERM");
  } finally {
    sleeper.kill("SIGKILL");
  }
  const gone = cli("kill", "4194304", "--yes");
  assert.equal(gone.status, 1);
  assert.match(gone.stderr, /no process has PID 4194304.*\[HALFOPEN_NOT_FOUND\]/);
});

test("simulate scan: 100 dead targets, timeout 1 s, limit 10 take 10 s under xp and 1 s with none (JSON); the table fits 80 columns", () => {
  const json = (policy: string) => {
    const r = cli("simulate", "scan", "--targets", "100", "--alive", "0", "--timeout", "1", "--retries", "0", "--policy", policy, "--limit", "10", "--json");
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as { results: { completionSeconds: number; maxInFlight: number }[] };
  };
  assert.deepEqual(json("xp").results.map((x) => [x.completionSeconds, x.maxInFlight]), [[10, 10]]);
  assert.deepEqual(json("none").results.map((x) => [x.completionSeconds, x.maxInFlight]), [[1, 100]]);
  const table = cli("simulate", "scan", "--targets", "500", "--alive", "0.1", "--program-timeout", "1", "--policy", "xp", "--compare", "halfopen,none", "--width", "80");
  assert.equal(table.status, 0, table.stderr);
  const rows = table.stdout.trim().split("\n");
  for (const line of rows) assert.ok(line.length <= 79, line);
  assert.match(rows[2] ?? "", /^xp +1\.0s +500\.0 +1 +58 /, "XP's queue ate the program's timeout: live hosts reported dead");
  assert.match(rows[3] ?? "", /^halfopen +45\.0s +11\.1 +59 +0 /, "the budget finds every live host");
});

test("simulate worm: the table compares policies; a bad policy or share is one usage line", () => {
  const r = cli("simulate", "worm", "--vulnerable", "300000", "--scan-rate", "10", "--policy", "none", "--compare", "xp", "--duration", "12h");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^none +10\.00 +300000 +4\.2h +5\.1h +2\.5\d +2\.51$/m);
  assert.match(r.stdout, /^xp +0\.48 /m);
  const bad = cli("simulate", "worm", "--policy", "xp-fast");
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /^halfopen: Cannot use policy "xp-fast": expected one of none, xp, xp-rate, per-process, halfopen, williamson, credit \[HALFOPEN_BAD_USAGE\]\n$/);
  const share = cli("simulate", "worm", "--share", "1.5");
  assert.equal(share.status, 2);
  assert.match(share.stderr, /Cannot use --share "1\.5": expected a number from 0 to 1/);
});

test("simulate worm --preset code-red: K ≈ 1.8/h from Code Red's parameters; options given on the command line win over the preset", () => {
  const r = cli("simulate", "worm", "--preset", "code-red", "--json");
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { spec: { vulnerable: number; durationHours: number }; results: { policy: { kind: string }; fittedKPerHour?: number; infected: number }[] };
  assert.equal(out.spec.vulnerable, 359_104);
  assert.deepEqual(out.results.map((x) => x.policy.kind), ["none", "xp"]);
  assert.ok(Math.abs((out.results[0]?.fittedKPerHour ?? 0) - 1.8) < 0.18);
  const mine = cli("simulate", "worm", "--preset", "code-red", "--vulnerable", "100000", "--compare", "credit", "--json");
  const o2 = JSON.parse(mine.stdout) as typeof out;
  assert.equal(o2.spec.vulnerable, 100_000);
  assert.deepEqual(o2.results.map((x) => x.policy.kind), ["none", "credit"]);
  const bad = cli("simulate", "worm", "--preset", "slammer");
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /Cannot use preset "slammer": expected one of staniford, code-red, half-patched \[HALFOPEN_BAD_USAGE\]/);
});

test("simulate browse and p2p: tables within 80 columns, every policy", () => {
  const b = cli("simulate", "browse", "--pages", "60", "--policy", "xp", "--compare", "none,williamson,credit,xp-rate,per-process,halfopen", "--width", "80");
  assert.equal(b.status, 0, b.stderr);
  const rows = b.stdout.trim().split("\n");
  assert.equal(rows.length, 2 + 7);
  for (const line of rows) assert.ok(line.length <= 79, line);
  assert.match(rows[3] ?? "", /^none +\d+ms +\d+ms +\d+ms +\d+ms +0 +0ms +0 /);
  const p = cli("simulate", "p2p", "--preset", "article", "--width", "80");
  assert.equal(p.status, 0, p.stderr);
  for (const line of p.stdout.trim().split("\n")) assert.ok(line.length <= 79, line);
});

test("simulate --plot draws an SVG with one line per policy; a recorded capture replays under a policy", () => {
  const svgPath = join(tmp, "worm.svg");
  const w = cli("simulate", "worm", "--preset", "staniford", "--duration", "12", "--plot", svgPath);
  assert.equal(w.status, 0, w.stderr);
  assert.match(w.stderr, /--duration 12 is read as hours in simulate worm .*write 12h/, "a plain number keeps its old unit, said");
  assert.match(w.stdout, /plot written to .*worm\.svg/);
  const svg = readFileSync(svgPath, "utf8");
  assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  for (const policy of ["none", "xp", "williamson", "credit"]) assert.match(svg, new RegExp(`>${policy}</text>`));
  assert.match(svg, />infected hosts</);
  assert.equal((svg.match(/class="mark-line role-mark/g) ?? []).length, 4, "one line per policy");

  const record = new URL("./fixtures/records/scan.jsonl", import.meta.url).pathname;
  const r = cli("simulate", "replay", record, "--policy", "xp", "--compare", "none", "--json");
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { attempts: number; results: { policy: { kind: string }; waited: number; peakInFlight: { recorded: number; simulated: number }; limitEvents: number }[] };
  assert.equal(out.attempts, 40);
  assert.deepEqual(out.results.map((x) => [x.policy.kind, x.waited, x.peakInFlight.simulated, x.limitEvents]), [["xp", 30, 10, 1], ["none", 0, 40, 0]]);
  const table = cli("simulate", "replay", record, "--plot", join(tmp, "replay.svg"));
  assert.equal(table.status, 0, table.stderr);
  assert.match(table.stdout, /ho-scan +40 +30 /);
  const missing = cli("simulate", "replay", join(tmp, "nope.jsonl"));
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /^halfopen: Cannot read the record ".*nope\.jsonl": no such file \[HALFOPEN_BAD_USAGE\]\n$/);
  const notSvg = cli("simulate", "scan", "--plot", join(tmp, "x.png"));
  assert.equal(notSvg.status, 2);
  assert.match(notSvg.stderr, /the plot is an SVG file/);
});

test("scan: bad targets, ports and combinations exit 2 with a stable code and no traffic; more than 65,536 addresses needs --yes", () => {
  const cases: [string[], RegExp, number][] = [
    [["scan"], /Cannot scan: no targets .*\[HALFOPEN_BAD_USAGE\]/, 2],
    [["scan", "198.18.0.300"], /Cannot scan "198\.18\.0\.300": not an IP address, CIDR block, range or host name \[HALFOPEN_BAD_TARGET\]/, 2],
    [["scan", "198.18.0.9-1"], /the range ends before it starts \[HALFOPEN_BAD_TARGET\]/, 2],
    [["scan", "198.18.0.1", "-p", "0"], /Cannot scan port "0": ports are 1 to 65535 \[HALFOPEN_BAD_TARGET\]/, 2],
    [["scan", "198.18.0.1", "--json", "--csv"], /Cannot use more than one of --json, --csv and -oG - .*\[HALFOPEN_BAD_USAGE\]/, 2],
    [["scan", "198.18.0.0/15", "-p", "80"], /Cannot scan 131,072 addresses without confirmation \(more than 65,536\): add --yes \[HALFOPEN_NEEDS_CONFIRMATION\]/, 2],
    [["scan", "198.18.0.1", "--shard", "4/3"], /Cannot use shard "4\/3"/, 2],
    [["scan", "-iL", join(tmp, "missing-targets.txt")], /Cannot read the target file ".*missing-targets\.txt": no such file \[HALFOPEN_BAD_USAGE\]/, 2],
    [["scan", "198.18.0.1", "--max-half-open", "0"], /Cannot use --max-half-open "0"/, 2],
    [["scan", "198.18.0.1", "--every", "0.5s"], /Cannot use --every "0\.5s": at least 1s between rounds \[HALFOPEN_BAD_USAGE\]/, 2],
    [["scan", "198.18.0.1", "--every", "soon"], /Cannot use --every "soon": expected a duration/, 2],
    [["scan", "198.18.0.1", "--every", "5m", "--resume", join(tmp, "j")], /Cannot use --every with --resume/, 2],
    [["scan", "198.18.0.1", "--every", "5m", "--no-store"], /Cannot use --every with --no-store: changes are found by comparing stored scans/, 2],
    [["scan", "198.18.0.1", "--on-change", "mail root | sh"], /Cannot use --on-change "mail root \| sh": "\|" needs a shell, and halfopen never runs one/, 2],
    [["scan", "--resume", join(tmp, "not-a-journal.txt")], /Cannot resume from ".*not-a-journal\.txt": line 1 is not JSON; it is not a journal halfopen scan --resume wrote \(nothing was changed\) \[HALFOPEN_BAD_RESUME\]/, 1],
    [["scans", "show", "99", "--db", join(tmp, "scans-empty.db")], /No scan 99 in .*scans-empty\.db \(halfopen scans lists them\) \[HALFOPEN_NOT_FOUND\]/, 1],
    [["scans", "diff", "--db", join(tmp, "scans-empty.db")], /No scan of the same targets and ports before scan 1; give two ids \(halfopen scans lists them\) \[HALFOPEN_NOT_FOUND\]/, 1],
    [["scans", "--db", join(tmp, "no-such.db")], /No incident database at .*no-such\.db.*\[HALFOPEN_DB_MISSING\]/, 1],
  ];
  writeFileSync(join(tmp, "not-a-journal.txt"), "hello\n");
  const empty = cli("scan", "-Pn", "127.0.0.1", "-p", "1", "--db", join(tmp, "scans-empty.db"));
  assert.equal(empty.status, 0, empty.stderr);
  assert.match(empty.stdout, /stored as scan #1\n/);
  for (const [args, message, status] of cases) {
    const r = cli(...args);
    assert.equal(r.status, status, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.ok(!r.stderr.includes("    at "), "no stack trace");
  }
  const help = cli("scan", "--help");
  assert.match(help.stdout, /nmap --top-ports 20/);
  assert.match(help.stdout, /--max-half-open <n>/);
});

test("scan on loopback: -iL and --exclude-file, text and CSV", async () => {
  const net = await import("node:net");
  const server = net.createServer((c) => c.on("error", () => undefined));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  try {
    const list = join(tmp, "targets.txt");
    const excl = join(tmp, "exclude.txt");
    writeFileSync(list, "# lab\n127.0.0.1-3\n");
    writeFileSync(excl, "127.0.0.2 127.0.0.3\n");
    const text = spawn(process.execPath, ["--import", "tsx", new URL("../src/cli/main.ts", import.meta.url).pathname, "scan", "-Pn", "-iL", list, "--exclude-file", excl, "-p", String(port), "--width", "80"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    text.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const [code] = (await once(text, "exit")) as [number];
    assert.equal(code, 0);
    assert.match(out, new RegExp(`^127\\.0\\.0\\.1 up, [\\d.]+ ms\\n  PORT +STATE +SERVICE +REASON\\n  ${port}/tcp +open +\\S+ +syn-ack\\n`));
    assert.match(out, /halfopen: scanned 1\/1 address in [\d.]+s: 1 up, 0 down, 1 open port\nhalfopen: at most 1 in SYN_SENT \(budget 10\); no discovery \(-Pn\)\nhalfopen: stored as scan #\d+\n$/);
    for (const line of out.trim().split("\n")) assert.ok(line.length <= 79, line);
    const csv = cli("scan", "-Pn", "127.0.0.1", "-p", String(port), "--csv");
    assert.equal(csv.status, 0, csv.stderr);
    assert.match(csv.stdout, new RegExp(`^address,port,state,reason,rtt_ms,banner\\n127\\.0\\.0\\.1,${port},open,syn-ack,[\\d.]+,\\n$`));
  } finally {
    server.close();
  }
});

test("text is never cut when it goes to a pipe or a file, and fits --width N when asked: a 300-character command line in incidents show and a long simulate headline", () => {
  const db = join(tmp, "wide.db");
  const store = IncidentStore.open({ path: db });
  const run = store.beginRun({ startedAt: Date.now(), pid: 1, hostname: "lab", source: "tracefs", limit: 10, version: "test" });
  const long = ["./crawler", ...Array.from({ length: 30 }, (_, i) => `--seed=https://site-${i}.example/`)];
  const id = store.saveIncident(run, makeIncident(proc(4242, "crawler", { cmdline: long }), 30, Date.now() - 60_000));
  store.close();
  const piped = cli("incidents", "show", String(id), "--db", db);
  assert.equal(piped.status, 0, piped.stderr);
  assert.ok(long.join(" ").length > 300);
  assert.ok(piped.stdout.includes(`cmd: ${long.join(" ")}`), "the whole command line, in a pipe");
  assert.doesNotMatch(piped.stdout, /…/, "nothing cut");
  const narrow = cli("incidents", "show", String(id), "--db", db, "--width", "100");
  assert.ok(narrow.stdout.split("\n").every((l) => l.length <= 99), "--width 100: lines fit");
  assert.match(narrow.stdout, /cmd: \.\/crawler .*…/);
  const sim = cli("simulate", "scan", "--preset", "vendor");
  assert.match(sim.stdout.split("\n")[0] ?? "", /, retries 0$/, "the simulate headline whole in a pipe");
  const bad = cli("ls", "--width", "5");
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /Cannot use --width "5": expected a whole number of columns from 40 to 100000 \[HALFOPEN_BAD_USAGE\]/);
});

test("one grammar for times: every seconds option also takes 250ms, 90s, 5m, 1h; a plain number stays seconds", () => {
  const ok = cli("watch", "--replay", "test/fixtures/records/scan.jsonl", "--as-fast-as-possible", "--duration", "1m", "--quiet", "2s", "--max-age", "5m", "--hook-timeout", "1500ms", "--interval", "0", "--json");
  assert.equal(ok.status, 0, ok.stderr);
  const start = JSON.parse(ok.stdout.split("\n")[0] ?? "{}") as { quietMs?: number };
  assert.equal(start.quietMs, 2000, "--quiet 2s is 2000 ms");
  const plain = cli("watch", "--replay", "test/fixtures/records/scan.jsonl", "--as-fast-as-possible", "--quiet", "3", "--interval", "0", "--json");
  assert.equal((JSON.parse(plain.stdout.split("\n")[0] ?? "{}") as { quietMs?: number }).quietMs, 3000, "a plain number is seconds");
  const bad = cli("watch", "--quiet", "2x");
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /Cannot use --quiet "2x": expected seconds from 0 to 86400, or a duration such as 90s, 5m or 1h \[HALFOPEN_BAD_USAGE\]/);
});

test("scan speaks nmap: -oA writes .nmap, .gnmap and .xml (valid against nmap's DTD), -sT is accepted, -T4 too; -sS, -sn -Pn and -p with --top-ports are refused; --help shows the spellings", async () => {
  const net = await import("node:net");
  const server = net.createServer((c) => c.on("error", () => undefined));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  try {
    const base = join(tmp, "nmap-habits");
    const r = cli("scan", "-sT", "-Pn", "-T4", "127.0.0.1", "-p", `22,${port}`, "-oA", base, "--no-store");
    assert.equal(r.status, 0, r.stderr);
    const gnmap = readFileSync(`${base}.gnmap`, "utf8");
    assert.match(gnmap, /^# halfopen \S+ scan initiated .* as: halfopen scan -sT -Pn -T4 /);
    assert.match(gnmap, new RegExp(`\\nHost: 127\\.0\\.0\\.1 \\(\\)\\tStatus: Up\\nHost: 127\\.0\\.0\\.1 \\(\\)\\tPorts: 22/closed/tcp//ssh///, ${port}/open/tcp//[^/]*///\\n# halfopen done at .* -- 1 IP address \\(1 host up\\) scanned in [\\d.]+ seconds\\n$`));
    const normal = readFileSync(`${base}.nmap`, "utf8");
    assert.match(normal, new RegExp(`^# halfopen scan .*\\n127\\.0\\.0\\.1 up, [\\d.]+ ms\\n  PORT +STATE +SERVICE +REASON\\n  ${port}/tcp +open `));
    assert.match(readFileSync(`${base}.xml`, "utf8"), new RegExp(`portid="${port}"><state state="open"`));
    const { spawnSync } = await import("node:child_process");
    if (spawnSync("xmllint", ["--version"]).status === 0) {
      const v = spawnSync("xmllint", ["--noout", "--dtdvalid", "/usr/share/nmap/nmap.dtd", `${base}.xml`], { encoding: "utf8" });
      assert.equal(v.status, 0, v.stderr);
    } else if (process.env.CI) assert.fail("xmllint is missing under CI (.ci/run installs libxml2-utils)");
    else console.log("# SKIP the DTD check: needs xmllint (Debian libxml2-utils)");
    // -oG - : standard output is the grepable format alone.
    const g = cli("scan", "-Pn", "127.0.0.1", "-p", String(port), "-oG", "-", "--no-store");
    assert.equal(g.status, 0, g.stderr);
    assert.deepEqual(g.stdout.split("\n").filter((l) => l !== "" && !l.startsWith("#")), ["Host: 127.0.0.1 ()\tStatus: Up", `Host: 127.0.0.1 ()\tPorts: ${port}/open/tcp//${/\tPorts: \d+\/open\/tcp\/\/([^/]*)\/\/\//.exec(g.stdout)?.[1] ?? ""}///`]);
  } finally {
    server.close();
  }
  for (const [args, message] of [
    [["-sS", "127.0.0.1"], /connect\(\) only/],
    [["-sn", "-Pn", "127.0.0.1"], /-sn with -Pn/],
    [["-p", "22", "--top-ports", "5", "127.0.0.1"], /-p and --top-ports together/],
    [["-T9", "127.0.0.1"], /0-5 or paranoid/],
    [["--top-ports", "1001", "127.0.0.1"], /--top-ports/],
  ] as const) {
    const r = cli("scan", ...args, "--no-store");
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
  const help = cli("scan", "--help").stdout;
  for (const spelling of ["-Pn, --no-discovery", "-sn, --no-port-scan", "-iL, --input-list", "-oX, --xml", "-oN, --output-normal", "-oG, --output-grepable", "-oA, --output-all", "-T<0-5>, --timing", "--top-ports"]) assert.ok(help.includes(spelling), spelling);
});

test("one name, one meaning: incidents and scans take --rows (the old --limit still works, with a notice); simulate worm --duration takes 14h", () => {
  const db = join(tmp, "rows.db");
  const store = IncidentStore.open({ path: db });
  const run = store.beginRun({ startedAt: Date.now(), pid: 1, hostname: "lab", source: "tracefs", limit: 10, version: "test" });
  for (let i = 0; i < 3; i++) store.saveIncident(run, { ...makeIncident(proc(4242 + i, "scan"), 12, Date.now() - 60_000 * (i + 1)), id: i + 1 });
  store.close();
  const rows = cli("incidents", "--db", db, "--rows", "2", "--json");
  assert.equal(rows.status, 0, rows.stderr);
  assert.equal((JSON.parse(rows.stdout) as { incidents: unknown[] }).incidents.length, 2);
  const old = cli("incidents", "--db", db, "--limit", "1", "--json");
  assert.equal(old.status, 0, old.stderr);
  assert.equal((JSON.parse(old.stdout) as { incidents: unknown[] }).incidents.length, 1);
  assert.match(old.stderr, /--limit here is the old spelling of --rows/);
  const help = cli("incidents", "list", "--help").stdout;
  assert.ok(help.includes("-n, --rows <n>") && !help.includes("--limit"), "the old spelling is not in --help");
  assert.ok(cli("scans", "list", "--help").stdout.includes("-n, --rows <n>"));
  const hours = cli("simulate", "worm", "--preset", "staniford", "--duration", "14h", "--json");
  const plain = cli("simulate", "worm", "--preset", "staniford", "--duration", "14", "--json");
  assert.equal(hours.status, 0, hours.stderr);
  assert.equal(hours.stderr, "");
  assert.equal(hours.stdout, plain.stdout, "14h and the old 14 are the same simulation");
});

test("watch and scan text through a pipe with COLUMNS=200: a command line and a banner longer than 200 characters arrive whole", async () => {
  const { spawnSync } = await import("node:child_process");
  const env = { ...process.env, COLUMNS: "200" };
  const run = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", new URL("../src/cli/main.ts", import.meta.url).pathname, ...args], { encoding: "utf8", env, timeout: 60_000 });
  // watch: a shipped capture whose process has a 250-character command line.
  const long = ["./crawler", ...Array.from({ length: 12 }, (_, i) => `--seed=https://site-${i}.example/`)];
  assert.ok(long.join(" ").length > 250);
  const record = readFileSync(new URL("./fixtures/records/exit-mid-incident.jsonl", import.meta.url), "utf8").replace('"cmdline":["ho-stayer"]', `"cmdline":${JSON.stringify(long)}`);
  const file = join(tmp, "long-cmdline.jsonl");
  writeFileSync(file, record);
  const w = run("watch", "--replay", file, "--as-fast-as-possible", "--quiet", "0.5", "--interval", "0");
  assert.equal(w.status, 0, w.stderr);
  assert.ok(w.stdout.includes(`cmd: ${long.join(" ")}`), w.stdout);
  assert.doesNotMatch(w.stdout, /…/, "nothing cut");
  // scan: an open port whose banner is 250 characters (a server in a process of its own: spawnSync blocks this one).
  const banner = `SSH-2.0-${"x".repeat(242)}`;
  const server = spawn(process.execPath, ["-e", `const s=require("net").createServer(c=>{c.on("error",()=>{});c.end(${JSON.stringify(banner)})}).listen(0,"127.0.0.1",()=>console.log(s.address().port))`], { stdio: ["ignore", "pipe", "inherit"] });
  try {
    const [chunk] = (await once(server.stdout, "data")) as [Buffer];
    const s = run("scan", "-Pn", "127.0.0.1", "-p", chunk.toString().trim(), "--banner", "--no-store");
    assert.equal(s.status, 0, s.stderr);
    assert.ok(s.stdout.includes(banner), s.stdout);
    assert.doesNotMatch(s.stdout, /…/, "nothing cut");
  } finally {
    server.kill();
  }
});

test("watch loads the dashboard's server (fastify) and the metrics library (prom-client) only when asked for them", async () => {
  const { spawnSync } = await import("node:child_process");
  // A preload that writes, at exit, every CommonJS module loaded (the web server and prom-client are CommonJS packages).
  const preload = join(tmp, "loaded-modules.cjs");
  const list = join(tmp, "loaded-modules.txt");
  writeFileSync(preload, `process.on("exit", () => require("node:fs").writeFileSync(${JSON.stringify(list)}, Object.keys(require.cache).join("\\n")));`);
  const capture = new URL("./fixtures/records/browser-burst.jsonl", import.meta.url).pathname;
  const loaded = (...args: string[]) => {
    const r = spawnSync(process.execPath, ["--require", preload, "--import", "tsx", new URL("../src/cli/main.ts", import.meta.url).pathname, "watch", "--replay", capture, "--as-fast-as-possible", "--json", "--no-store", ...args], { encoding: "utf8", timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    return readFileSync(list, "utf8");
  };
  const plain = loaded();
  assert.ok(plain.includes("/commander/"), "the preload saw the modules watch needs");
  assert.doesNotMatch(plain, /node_modules\/(fastify|@fastify|prom-client)\//, "a plain watch loads neither the web server nor prom-client");
  assert.match(loaded("--metrics-port", "0"), /node_modules\/prom-client\//, "--metrics-port loads prom-client");
});
