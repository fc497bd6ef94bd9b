import { test } from "node:test";
import assert from "node:assert/strict";
import { parseLsofF, parseNetstatAnv } from "./parse.js";
import { TcpState } from "../../core/tcp-state.js";
import { fixtureText } from "../../../test/support/fixtures.js";

test("lsof -F: sockets per process, SYN_SENT found, UDP and listeners handled", () => {
  const r = parseLsofF(fixtureText("macos/lsof-F.txt"));
  assert.equal(r.skipped, 0);
  const syn = r.value.rows.filter((x) => x.state === TcpState.SYN_SENT);
  assert.deepEqual(syn.map((x) => [x.pid, `${x.remote.address}:${x.remote.port}`]), [
    [610, "104.16.0.1:443"],
    [11, "140.82.112.3:443"],
    [42, "::ffff:203.0.113.6:443"],
  ]);
  assert.equal(r.value.processes.get(610)?.name, "App");
  assert.equal(r.value.processes.get(11)?.name, "node");
  assert.equal(r.value.processes.get(42)?.name, "?", "a process without a c line keeps a placeholder name");
  assert.equal(r.value.rows.filter((x) => x.pid === 610).length, 4, "four connections; the listener (no remote end) and UDP are skipped");
  assert.equal(r.value.rows.find((x) => x.family === 6 && x.pid === 610)?.remote.address, "::1");
});

test("netstat -anv with a pid column", () => {
  const r = parseNetstatAnv(fixtureText("macos/netstat-anv-pid.txt"));
  assert.equal(r.skipped, 0);
  assert.equal(r.value.rows.length, 6);
  const est = r.value.rows.filter((x) => x.state === TcpState.ESTABLISHED);
  assert.deepEqual(est.map((x) => [x.pid, x.local.address, x.local.port]), [[31195, "::1", 5002], [31200, "::1", 52167]]);
  assert.deepEqual(r.value.rows[0]?.local, { address: "0.0.0.0", port: 35729 });
  assert.equal(r.value.rows[2]?.pid, 30555);
});

test("netstat -anv on recent macOS: process:pid with spaces in the name", () => {
  const r = parseNetstatAnv(fixtureText("macos/netstat-anv-process-pid.txt"));
  assert.equal(r.skipped, 0);
  assert.deepEqual(r.value.rows.map((x) => x.pid), [5660, 610, 611]);
  assert.equal(r.value.processes.get(5660)?.name, "Helium Helper");
  assert.deepEqual(r.value.rows[1]?.remote, { address: "127.0.0.1", port: 50000 });
});

test("netstat -anv SYN_SENT row without a header has no pid; garbage is skipped", () => {
  const r = parseNetstatAnv("tcp4  0  1  198.18.0.2.5555  198.18.0.1.443  SYN_SENT  131072 131072  77  0\ntcp4 nonsense\n");
  assert.equal(r.value.rows[0]?.state, TcpState.SYN_SENT);
  assert.equal(r.value.rows[0]?.pid, undefined);
  assert.equal(r.skipped, 1);
});
