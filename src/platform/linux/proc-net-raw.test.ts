import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import fc from "fast-check";
import { parseProcNetPacket, parseProcNetRaw } from "./proc-net-raw.js";

const fixture = (name: string) => readFileSync(new URL(`../../../test/fixtures/linux/raw/${name}`, import.meta.url), "utf8");

describe("raw and packet socket tables (test/fixtures/linux/raw: nmap -sS and a program holding one socket of each kind)", () => {
  it("reads every socket with its protocol, and says which can send a TCP SYN", () => {
    const raw = parseProcNetRaw(fixture("net-raw.txt"), 4);
    const raw6 = parseProcNetRaw(fixture("net-raw6.txt"), 6);
    const packet = parseProcNetPacket(fixture("net-packet.txt"));
    assert.deepEqual([raw.badLines, raw6.badLines, packet.badLines], [0, 0, 0]);
    const all = [...raw.rows, ...raw6.rows, ...packet.rows].sort((a, b) => a.inode - b.inode);
    assert.deepEqual(
      all.map((r) => [r.inode, r.label, r.canSendTcp]),
      [
        [428664, "raw ip (IPPROTO_RAW)", true], // nmap -sS: writes its own IP headers
        [428666, "packet raw (all protocols)", true], // nmap's libpcap
        [428677, "raw tcp", true],
        [428678, "raw icmp", false], // what ping opens
        [428679, "raw6 tcp", true],
        [428680, "raw6 icmpv6", false],
        [428681, "raw6 ip (IPPROTO_RAW)", true],
        [428682, "packet dgram (ipv4)", true], // a DHCP client's shape
        [428683, "packet raw (send only)", true], // a sender's (masscan, zmap)
      ],
    );
    assert.ok(all.every((r) => r.uid === 0));
  });

  it("never throws on arbitrary text; bad lines are counted", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (text) => {
        const a = parseProcNetRaw(`header\n${text}`, 4);
        const b = parseProcNetPacket(`header\n${text}`);
        assert.ok(a.badLines >= 0 && b.badLines >= 0);
        for (const r of [...a.rows, ...b.rows]) assert.ok(Number.isInteger(r.inode) && r.inode > 0);
      }),
    );
    assert.equal(parseProcNetPacket("sk RefCnt Type Proto  Iface R Rmem   User   Inode\n00 3 5 0003 1 1 0 0 7\n").badLines, 1, "an unknown socket type");
  });
});
