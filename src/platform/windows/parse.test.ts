import { test } from "node:test";
import assert from "node:assert/strict";
import { netstatState, parseNetTcpConnectionJson, parseNetstatAno, parsePowerShellDate, parseTasklistCsv, parseWevtutil4226, parseWindowsEndpoint } from "./parse.js";
import { TcpState } from "../../core/tcp-state.js";
import { fixture, fixtureText } from "../../../test/support/fixtures.js";

test("netstat -ano, Windows 10: TCP rows with IPv6, UDP ignored", () => {
  const r = parseNetstatAno(fixtureText("windows/netstat-ano-win10.txt"));
  assert.equal(r.skipped, 0);
  assert.deepEqual(r.unknownStates, []);
  assert.equal(r.value.length, 13);
  const v6 = r.value.filter((x) => x.family === 6);
  assert.equal(v6.length, 5);
  assert.deepEqual(v6[3]?.local, { address: "::1", port: 1025 });
  assert.equal(v6[3]?.pid, 6088);
  assert.equal(r.value.filter((x) => x.state === TcpState.ESTABLISHED).length, 2);
});

test("netstat on Windows XP SP2 with -o and -b: the TCP rows and their pids; executable lines between them are not rows", () => {
  const text = fixtureText("windows/netstat-anob-xp-sp2.txt");
  const r = parseNetstatAno(text);
  // The LAN address of the published machine, read from the fixture rather than written here (parse only, no traffic).
  const lan = /TCP\s+(\S+):139\s/.exec(text)?.[1];
  assert.equal(r.skipped, 0);
  assert.deepEqual(r.unknownStates, []);
  assert.deepEqual(
    r.value.map((x) => [x.local.address, x.local.port, x.state, x.pid]),
    [
      ["0.0.0.0", 135, TcpState.LISTEN, 988],
      ["0.0.0.0", 445, TcpState.LISTEN, 4],
      ["127.0.0.1", 1027, TcpState.LISTEN, 1244],
      [lan, 139, TcpState.LISTEN, 4],
    ],
  );
});

test("netstat -ano with a SYN_SENT row names its pid", () => {
  const r = parseNetstatAno(fixtureText("windows/netstat-ano-win10-syn-sent.txt"));
  const syn = r.value.filter((x) => x.state === TcpState.SYN_SENT);
  assert.equal(syn.length, 1);
  assert.deepEqual(syn[0]?.remote, { address: "208.111.183.1", port: 80 });
  assert.equal(syn[0]?.pid, 1348);
});

test("netstat -ano | findstr: link-local IPv6 with zone ids", () => {
  const r = parseNetstatAno(fixtureText("windows/netstat-ano-server-findstr.txt"));
  assert.equal(r.skipped, 0);
  assert.equal(r.value.filter((x) => x.state === TcpState.SYN_SENT && x.pid === 4616).length, 2);
  const ll = r.value.find((x) => x.local.address.startsWith("fe80"));
  assert.deepEqual(ll?.local, { address: "fe80::f92e:7d46:5188:3a89%7", port: 3343 });
  assert.deepEqual(ll?.remote, { address: "fe80::b82c:ee7:7338:3fae%7", port: 56783 });
});

test("localized netstat: German (UTF-8 and code page 850 read as UTF-8), French two-word state, German SYN_GESENDET", () => {
  for (const text of [fixtureText("windows/netstat-ano-de.txt"), fixture("windows/netstat-ano-de-cp850.bin").toString("utf8"), fixture("windows/netstat-ano-de-cp850.bin").toString("latin1")]) {
    const r = parseNetstatAno(text);
    assert.deepEqual(r.unknownStates, [], `all German states known in ${JSON.stringify(text.slice(60, 200))}`);
    assert.deepEqual(
      r.value.map((x) => x.state),
      [TcpState.LISTEN, TcpState.LISTEN, TcpState.ESTABLISHED, TcpState.TIME_WAIT, TcpState.LISTEN],
    );
    assert.equal(r.value[2]?.pid, 31337);
  }
  const fr = parseNetstatAno(fixtureText("windows/netstat-ano-fr.txt"));
  assert.deepEqual(fr.value.map((x) => [x.state, x.pid]), [[TcpState.LISTEN, 4242], [TcpState.ESTABLISHED, 777]]);
  const syn = parseNetstatAno(fixtureText("windows/netstat-an-de-syn.txt"));
  assert.equal(syn.value[0]?.state, TcpState.SYN_SENT);
  assert.equal(syn.value[0]?.pid, undefined, "netstat -an has no PID column");
});

test("an unknown localized state word is reported, and the row kept", () => {
  const r = parseNetstatAno("  TCP    198.18.0.2:5000    198.18.0.1:80    受信待ち    42\r\n");
  assert.deepEqual(r.unknownStates, ["受信待ち"]);
  assert.equal(r.value[0]?.pid, 42);
  assert.equal(r.value[0]?.state, 0);
  assert.equal(netstatState("syn_sent"), TcpState.SYN_SENT);
  assert.equal(netstatState("ABH\uFFFDREN"), TcpState.LISTEN);
});

test("endpoints: names and wildcards are not endpoints", () => {
  assert.equal(parseWindowsEndpoint("*:*"), undefined);
  assert.equal(parseWindowsEndpoint("mypc:http"), undefined);
  assert.equal(parseWindowsEndpoint("1.2.3.4:99999"), undefined);
  assert.deepEqual(parseWindowsEndpoint("[::]:0"), { address: "::", port: 0, family: 6 });
});

test("tasklist CSV: quoted commas, locale digits, the German no-tasks line, a truncated row", () => {
  const r = parseTasklistCsv(fixtureText("windows/tasklist-csv.txt"));
  assert.equal(r.value.get(1348)?.name, "My App, Beta (x86).exe");
  assert.equal(r.value.get(4)?.name, "System");
  assert.equal(r.value.get(0)?.name, "System Idle Process");
  assert.equal(r.value.get(4616)?.name, "Dienst mit Umlaut Ä.exe");
  assert.equal(r.value.get(16472)?.session, "Console");
  assert.equal(r.value.size, 7);
  assert.equal(r.skipped, 2, "INFORMATION line and the truncated row");
});

test("Get-NetTCPConnection JSON from Windows PowerShell 5.1: BOM, numeric states, \\/Date()\\/ ages", () => {
  const now = 1_700_000_010_000;
  const r = parseNetTcpConnectionJson(fixtureText("windows/get-nettcpconnection-ps51.json"), now);
  assert.equal(r.skipped, 0);
  const rows = r.value.rows;
  assert.equal(rows.length, 4);
  assert.deepEqual(rows.map((x) => x.state), [TcpState.SYN_SENT, TcpState.SYN_SENT, TcpState.ESTABLISHED, TcpState.LISTEN]);
  assert.equal(rows[0]?.ageMs, 10_000);
  assert.equal(rows[1]?.ageMs, 7_500);
  assert.equal(rows[0]?.pid, 4616);
  assert.deepEqual(rows[2]?.local, { address: "fe80::f92e:7d46:5188:3a89%7", port: 3343 });
  assert.equal(rows[3]?.family, 6);
});

test("halfopen's combined PowerShell query: named state, ISO time, processes", () => {
  const r = parseNetTcpConnectionJson(fixtureText("windows/get-nettcpconnection-combined.json"), Date.parse("2023-11-14T22:13:30Z"));
  assert.equal(r.value.rows[0]?.state, TcpState.SYN_SENT);
  assert.equal(r.value.rows[0]?.ageMs, 10_000);
  assert.equal(r.value.processes.get(1348)?.name, "svchost");
});

test("PowerShell output edge cases: one object, empty, not JSON", () => {
  const one = parseNetTcpConnectionJson('{"LocalAddress":"198.18.0.2","LocalPort":5,"RemoteAddress":"198.18.0.1","RemotePort":80,"State":3,"OwningProcess":9}', 0);
  assert.equal(one.value.rows.length, 1);
  assert.equal(parseNetTcpConnectionJson("", 0).value.rows.length, 0);
  const bad = parseNetTcpConnectionJson("Get-NetTCPConnection : No MSFT_NetTCPConnection objects found", 0);
  assert.equal(bad.skipped, 1);
  assert.equal(parsePowerShellDate("/Date(1436236701491)/"), 1436236701491);
  assert.equal(parsePowerShellDate("nonsense"), undefined);
});

test("wevtutil XML: 4226 records with their record numbers and times; other events ignored", () => {
  const r = parseWevtutil4226(fixtureText("windows/wevtutil-4226.xml"));
  assert.equal(r.skipped, 0);
  assert.deepEqual(
    r.value.map((e) => [e.recordId, new Date(e.timeWall).toISOString(), e.provider]),
    [
      [20513, "2008-02-19T21:14:07.000Z", "Tcpip"],
      [20498, "2008-02-19T21:10:55.000Z", "Tcpip"],
    ],
  );
  assert.equal(parseWevtutil4226("").value.length, 0);
  const broken = parseWevtutil4226("<Event><System><EventID>4226</EventID></System></Event>");
  assert.equal(broken.value.length, 0);
  assert.equal(broken.skipped, 1, "a record without time or record number is skipped");
});
