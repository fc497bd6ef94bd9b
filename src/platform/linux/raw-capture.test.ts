import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fixture } from "../../../test/support/fixtures.js";
import { parseDnsResponse } from "../../core/dns-message.js";
import { encodeCaptureRecord, parseCapture, parseDatagrams } from "./raw-capture.js";

const line = (p: ReturnType<typeof parseCapture>["packets"][number]) => `${p.outgoing ? "out" : "in"} ${p.flags} ${p.saddr}:${p.sport}>${p.daddr}:${p.dport} len${p.length}`;

describe("parseCapture (native captureRead records)", () => {
  it("reads a real nmap -sS exchange: six SYNs out, five RST+ACK and one SYN+ACK back (IPv4)", () => {
    const { packets, bad } = parseCapture(fixture("linux/raw/capture-nmap-sS.bin"));
    assert.equal(bad, 0);
    const lines = packets.map(line);
    assert.equal(lines.filter((l) => l.startsWith("out 2 198.18.1.1:50064>198.18.1.2:")).length, 6);
    assert.deepEqual(lines.filter((l) => l.startsWith("in 18")), ["in 18 198.18.1.2:22>198.18.1.1:50064 len44"], "the open port answers SYN+ACK");
    assert.equal(lines.filter((l) => l.startsWith("in 20 198.18.1.2:")).length, 5, "the closed ones RST+ACK");
    for (const p of packets) {
      assert.equal(p.family, 4);
      assert.ok(p.timeNs > 0 && Number.isFinite(p.timeNs));
      assert.ok(p.cpu === 0 || p.cpu === 1, "one of the two fanout sockets");
    }
  });

  it("reads IPv6 (no extension headers)", () => {
    const { packets, bad } = parseCapture(fixture("linux/raw/capture-nmap-sS-ipv6.bin"));
    assert.equal(bad, 0);
    assert.deepEqual(packets.map(line), ["out 2 fd00::1:37582>fd00::2:7 len64", "in 20 fd00::2:7>fd00::1:37582 len60", "out 2 fd00::1:37582>fd00::2:9 len64", "in 20 fd00::2:9>fd00::1:37582 len60"]);
  });

  it("encodeCaptureRecord is its inverse; a torn record or a non-TCP packet is counted, never thrown", () => {
    const real = fixture("linux/raw/capture-nmap-sS.bin");
    const first = parseCapture(real).packets[0]!;
    // IPv4 (20 bytes, 198.18.1.1 > 198.18.1.2) and TCP (20 bytes, 50000 > 22, SYN).
    const ip = Buffer.from("4500002800010000400600" + "00c6120101c6120102" + "c350001600000001000000005002040000000000", "hex");
    const again = parseCapture(encodeCaptureRecord({ timeNs: 5e9, cpu: 3, ifindex: 7, outgoing: true, packet: ip.subarray(0, 40) }));
    assert.equal(again.bad, 0);
    assert.deepEqual(
      { ...again.packets[0] },
      { timeNs: 5e9, cpu: 3, ifindex: 7, outgoing: true, family: 4, saddr: "198.18.1.1", daddr: "198.18.1.2", sport: 50000, dport: 22, flags: 2, length: 40 },
    );
    assert.equal(parseCapture(real.subarray(0, real.length - 5)).bad, 1, "the torn last record");
    assert.equal(parseCapture(real.subarray(0, real.length - 5)).packets.length, parseCapture(real).packets.length - 1);
    const udp = Buffer.from(ip.subarray(0, 40));
    udp[9] = 17;
    assert.equal(parseCapture(encodeCaptureRecord({ timeNs: 1, cpu: 0, ifindex: 1, outgoing: true, packet: udp })).bad, 1);
    assert.equal(parseCapture(encodeCaptureRecord({ timeNs: 1, cpu: 0, ifindex: 1, outgoing: true, packet: ip.subarray(0, 30) })).bad, 1, "TCP header cut short");
    assert.ok(first.outgoing);
  });

  it("parseDatagrams and parseDnsResponse read real dnsmasq answers: the name asked for, through a CNAME chain, with the TTL", () => {
    const { datagrams, bad } = parseDatagrams(fixture("linux/raw/capture-dns-dnsmasq.bin"));
    assert.equal(bad, 0);
    const answers = datagrams.flatMap((d) => parseDnsResponse(d.payload) ?? []);
    assert.deepEqual(answers, [
      { name: "live1.lab.test", address: "198.18.0.11", family: 4, ttl: 30 },
      { name: "www.lab.test", address: "198.18.0.11", family: 4, ttl: 30 },
    ]);
    assert.equal(datagrams.length, 6, "the answers without an address parse to none");
  });

});
