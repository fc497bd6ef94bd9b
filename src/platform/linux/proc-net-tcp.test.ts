import { test } from "node:test";
import assert from "node:assert/strict";
import { parseProcAddress, parseProcNetTcp, parseSocketLink } from "./proc-net-tcp.js";
import { TcpState } from "../../core/tcp-state.js";
import { fixtureText } from "../../../test/support/fixtures.js";

test("/proc/net/tcp captured here: listener, both ends of a connection, three SYN_SENT, a TIME_WAIT", () => {
  const r = parseProcNetTcp(fixtureText("linux/proc/net-tcp.txt"), { netns: 7 });
  assert.equal(r.badLines, 0);
  assert.equal(r.rows.length, 7);
  const syn = r.rows.filter((x) => x.state === TcpState.SYN_SENT);
  assert.deepEqual(syn.map((x) => x.remote.port).sort(), [10000, 10001, 10002]);
  for (const s of syn) {
    assert.equal(s.remote.address, "198.18.0.1");
    assert.equal(s.local.address, "198.18.0.1");
    assert.equal(s.retransmits, 3, "3.5 s old with linear SYN timeouts: 3 retransmits");
    assert.equal(s.uid, 0);
    assert.ok(s.inode && s.inode >= 12670509 && s.inode <= 12670515);
    assert.equal(s.key, `7:${s.inode}`);
  }
  const listen = r.rows.find((x) => x.state === TcpState.LISTEN);
  assert.deepEqual(listen?.local, { address: "198.18.0.1", port: 8080 });
  assert.equal(listen?.inode, 12670509, "ss -tanpe printed ino:12670509 for the listener");
  const tw = r.rows.find((x) => x.state === TcpState.TIME_WAIT);
  assert.equal(tw?.inode, undefined, "TIME_WAIT has no inode");
  assert.equal(tw?.key, "7:198.18.0.1:8080>198.18.0.1:45486".replace("45486", String(tw?.remote.port)));
});

test("/proc/net/tcp6 captured here: a SYN_SENT to [::1]:9", () => {
  const r = parseProcNetTcp(fixtureText("linux/proc/net-tcp6.txt"));
  assert.equal(r.badLines, 0);
  assert.equal(r.rows.length, 1);
  const [s] = r.rows;
  assert.equal(s?.family, 6);
  assert.deepEqual(s?.remote, { address: "::1", port: 9 });
  assert.equal(s?.state, TcpState.SYN_SENT);
  assert.equal(s?.inode, 12670514);
});

test("state filter keeps only the asked state", () => {
  const r = parseProcNetTcp(fixtureText("linux/proc/net-tcp.txt"), { state: TcpState.SYN_SENT });
  assert.equal(r.rows.length, 3);
});

test("addresses: byte order, IPv4-mapped IPv6, bad hex", () => {
  assert.deepEqual(parseProcAddress("0100007F:1F90"), { address: "127.0.0.1", port: 8080, family: 4 });
  assert.deepEqual(parseProcAddress("7F000001:0050", false), { address: "127.0.0.1", port: 80, family: 4 });
  assert.equal(parseProcAddress("0000000000000000FFFF00000100007F:0016")?.address, "::ffff:127.0.0.1");
  assert.equal(parseProcAddress("XYZ:0050"), undefined);
  assert.equal(parseProcAddress("0100007F:"), undefined);
  assert.equal(parseProcAddress("0100007F"), undefined);
});

test("truncated and garbage lines are counted, never thrown", () => {
  const text = fixtureText("linux/proc/net-tcp.txt");
  const cut = text.slice(0, text.indexOf("0A 00000000") + 5);
  const r = parseProcNetTcp(`${cut}\nnonsense line\n`);
  assert.equal(r.rows.length, 0);
  assert.equal(r.badLines, 2);
  assert.match(r.firstBad ?? "", /010012C6:1F90/);
});

test("fd links: only socket:[N]", () => {
  assert.equal(parseSocketLink("socket:[12670512]"), 12670512);
  assert.equal(parseSocketLink("pipe:[12]"), undefined);
  assert.equal(parseSocketLink("socket:[x]"), undefined);
  assert.equal(parseSocketLink("/dev/null"), undefined);
});
