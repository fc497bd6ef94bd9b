/**
 * The Windows and macOS readers, off their OS: a fake runner returns the
 * fixtures and records every call, so the argument arrays, the fallbacks and
 * the 4226 join are tested here. The real runner is tested on a missing tool.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { HalfOpenError } from "../errors.js";
import { TcpState } from "../core/tcp-state.js";
import { HalfOpenMonitor } from "../core/monitor.js";
import { MacosReader, lsofArgs } from "./macos/macos-reader.js";
import { PollingSource } from "./polling-source.js";
import { openWatchSource, selectReader } from "./select.js";
import { runTool, type ToolRunner } from "./tools.js";
import { WEVTUTIL_ARGS, WindowsReader } from "./windows/windows-reader.js";
import type { ConnectionSource } from "./types.js";
import { fixtureText } from "../../test/support/fixtures.js";

type Call = [string, string[]];

function fakeRunner(outputs: Record<string, string | Error | (() => string)>, calls: Call[]): ToolRunner {
  return async (command, args) => {
    calls.push([command, [...args]]);
    const key = [command, ...args].join(" ");
    const hit = Object.entries(outputs).find(([k]) => key.startsWith(k));
    if (!hit) throw new HalfOpenError("HALFOPEN_TOOL_MISSING", `Cannot run "${command}": it is not installed or not on PATH`);
    const v = hit[1];
    if (v instanceof Error) throw v;
    return { stdout: typeof v === "function" ? v() : v, stderr: "" };
  };
}

test("windows: PowerShell path, one argument array, ages from CreationTime", async () => {
  const calls: Call[] = [];
  const reader = new WindowsReader({ run: fakeRunner({ powershell: fixtureText("windows/get-nettcpconnection-combined.json") }, calls), nowWall: () => Date.parse("2023-11-14T22:13:25Z") });
  await reader.probe();
  assert.equal(reader.mode, "powershell");
  const r = await reader.read(5);
  assert.equal(r.snapshot.rows.length, 1);
  assert.equal(r.snapshot.rows[0]?.ageMs, 5000);
  assert.equal(r.snapshot.processes.get(1348)?.name, "svchost");
  const [cmd, args] = calls[0] as Call;
  assert.equal(cmd, "powershell");
  assert.deepEqual(args.slice(0, 3), ["-NoProfile", "-NonInteractive", "-Command"]);
  assert.match(args[3] ?? "", /Get-NetTCPConnection -State SynSent/);
});

test("windows: without PowerShell, netstat tcp and tcpv6 joined with tasklist; localized states warned", async () => {
  const calls: Call[] = [];
  const run = fakeRunner(
    {
      "netstat -ano -p tcp ": "",
      "netstat -ano -p tcpv6": "",
      "netstat -ano -p tcp": fixtureText("windows/netstat-ano-server-findstr.txt") + "  TCP    198.18.0.2:5000    198.18.0.1:80    SYN_ENVIADO    4616\r\n",
      tasklist: fixtureText("windows/tasklist-csv.txt"),
    },
    calls,
  );
  const reader = new WindowsReader({ run });
  await reader.probe();
  assert.equal(reader.mode, "netstat");
  assert.match(reader.caveats.join("\n"), /PowerShell Get-NetTCPConnection is not usable/);
  const r = await reader.read(0);
  assert.equal(r.snapshot.rows.length, 2, "the two SYN_SENT rows (tcpv6 table shares the fake output)");
  assert.equal(r.snapshot.processes.get(4616)?.name, "Dienst mit Umlaut Ä.exe");
  assert.ok(r.alivePids?.has(4616));
  assert.match(r.snapshot.warnings.join("\n"), /SYN_ENVIADO.*some SYN_SENT rows may be missed/);
  assert.deepEqual(calls.filter(([c]) => c === "netstat").map(([, a]) => a), [["-ano", "-p", "tcp"], ["-ano", "-p", "tcp"], ["-ano", "-p", "tcpv6"]]);
  assert.deepEqual(calls.find(([c]) => c === "tasklist")?.[1], ["/fo", "csv", "/nh"]);
});

test("windows: Event 4226 records newer than the start are joined into the open incident", async () => {
  const calls: Call[] = [];
  let xml = fixtureText("windows/wevtutil-4226.xml").split("\r\n").slice(1).join("\r\n"); // at start: only record 20498
  const nowWall = Date.parse("2008-02-19T21:14:10Z");
  const conns = Array.from({ length: 12 }, (_, i) => ({ LocalAddress: "198.18.0.2", LocalPort: 50000 + i, RemoteAddress: "198.18.0.1", RemotePort: 445, State: 3, OwningProcess: 666, CreationTime: "2008-02-19T21:14:06Z" }));
  const run = fakeRunner({ powershell: JSON.stringify({ connections: conns, processes: [{ Id: 666, ProcessName: "worm" }] }), wevtutil: () => xml }, calls);
  const source = new PollingSource(new WindowsReader({ run, osEvents: true, nowWall: () => nowWall }), { intervalMs: 1, now: () => 1000 });
  await source.start();
  assert.deepEqual(calls.find(([c]) => c === "wevtutil")?.[1], [...WEVTUTIL_ARGS]);
  xml = fixtureText("windows/wevtutil-4226.xml"); // record 20513 appears
  const monitor = new HalfOpenMonitor({ limit: 10, wallOffsetMs: nowWall - 1000 });
  const it = source.events()[Symbol.asyncIterator]();
  const batch = (await it.next()).value as Parameters<HalfOpenMonitor["handle"]>[0][];
  source.stop();
  assert.equal(batch.filter((e) => e.type === "os-limit").length, 1, "only the new record");
  for (const e of batch) monitor.handle(e);
  const incident = monitor.openIncident;
  assert.equal(incident?.osEvents.length, 1);
  assert.equal(incident?.osEvents[0]?.recordId, 20513);
  assert.equal(incident?.processes[0]?.name, "worm");
});

test("windows: a 4226 with no incident open is reported on its own", () => {
  const m = new HalfOpenMonitor({ limit: 10 });
  const out = m.handle({ type: "os-limit", time: 5, timeWall: 99, source: "Windows Event 4226 (Tcpip)", recordId: 3 });
  assert.deepEqual(out, [{ type: "os-limit", time: 5, record: { timeWall: 99, source: "Windows Event 4226 (Tcpip)", recordId: 3 } }]);
  assert.equal(m.totals().osLimitEvents, 1);
});

test("macos: lsof first with its arguments; netstat -anv when lsof is missing", async () => {
  const calls: Call[] = [];
  const lsof = new MacosReader({ run: fakeRunner({ lsof: fixtureText("macos/lsof-F.txt") }, calls) });
  await lsof.probe();
  const r = await lsof.read(0);
  assert.deepEqual(r.snapshot.rows.map((x) => x.pid), [610, 11, 42]);
  assert.deepEqual(calls[0], ["lsof", ["-nP", "-iTCP", "-sTCP:SYN_SENT", "-F", "pcLfPnT"]]);
  assert.deepEqual(lsofArgs(true), ["-nP", "-iTCP", "-F", "pcLfPnT"]);
  const calls2: Call[] = [];
  const ns = new MacosReader({ run: fakeRunner({ "netstat -anv -p tcp": fixtureText("macos/netstat-anv-pid.txt") }, calls2) });
  await ns.probe();
  assert.equal(ns.mode, "netstat");
  const all = await ns.read(0, { allStates: true });
  assert.equal(all.snapshot.rows.filter((x) => x.state === TcpState.ESTABLISHED).length, 2);
});

test("a missing tool is HALFOPEN_TOOL_MISSING; a failing one HALFOPEN_TOOL_FAILED, both with the command", async () => {
  await assert.rejects(runTool("halfopen-no-such-tool", ["-x"]), (e: unknown) => e instanceof HalfOpenError && e.code === "HALFOPEN_TOOL_MISSING" && /halfopen-no-such-tool/.test(e.message));
  await assert.rejects(runTool(process.execPath, ["-e", "process.stderr.write('boom\\n'); process.exit(3)"]), (e: unknown) => e instanceof HalfOpenError && e.code === "HALFOPEN_TOOL_FAILED" && /boom/.test(e.message));
  const ok = await runTool(process.execPath, ["-e", "process.stdout.write('a b'); process.exit(1)"], { okCodes: [0, 1] });
  assert.equal(ok.stdout, "a b");
  const arg = "x; rm -rf / $(id)";
  assert.equal((await runTool(process.execPath, ["-e", "process.stdout.write(process.argv[1])", arg])).stdout, arg, "arguments reach the tool verbatim, no shell");
});

function stubTracefs(error: HalfOpenError | undefined): ConnectionSource & { stopped: boolean } {
  return {
    name: "tracefs",
    exact: true,
    caveats: [],
    stopped: false,
    async start() {
      if (error) throw error;
    },
    async *events() {},
    stop() {
      this.stopped = true;
    },
    stats: () => ({ lostEvents: 0, records: 0 }),
    now: () => 0,
  };
}

test("watch on Linux: tracefs when it starts, /proc polling with the reason when it cannot", async () => {
  const ok = await openWatchSource({ platform: "linux", makeTracefs: () => stubTracefs(undefined) });
  assert.equal(ok.source.name, "tracefs");
  assert.equal(ok.fallback, undefined);
  const stub = stubTracefs(new HalfOpenError("HALFOPEN_NEEDS_PRIVILEGES", "Cannot open tracefs as uid 1000: the tracefs source needs root"));
  const fb = await openWatchSource({ platform: "linux", makeTracefs: () => stub });
  assert.equal(fb.source.name, "procfs");
  assert.match(fb.fallback ?? "", /tracefs cannot be used \(Cannot open tracefs as uid 1000.*\); falling back to \/proc polling/);
  assert.match(fb.source.caveats.join("\n"), /starts and ends between two polls is not seen/);
  assert.ok(stub.stopped);
  fb.source.stop();
  await assert.rejects(openWatchSource({ platform: "linux", source: "tracefs", makeTracefs: () => stubTracefs(new HalfOpenError("HALFOPEN_NEEDS_PRIVILEGES", "no")) }), /no/, "a forced source does not fall back");
  const win = await openWatchSource({ platform: "win32", run: fakeRunner({ powershell: "", wevtutil: "" }, []) });
  assert.equal(win.source.name, "windows");
  win.source.stop();
  await assert.rejects(selectReader({ source: "tracefs" }), /tracefs sees attempts as they start/);
  assert.equal((await selectReader({ platform: "darwin" })).name, "macos");
  await assert.rejects(selectReader({ platform: "aix" }), /HALFOPEN_NO_SOURCE|supports Linux, Windows and macOS/);
});
