import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseDnsResponse } from "./dns-message.js";

/** A response to `name` (type A or AAAA) with the given records (RFC 1035 wire format, no compression but the owner pointer). */
function response(name: string, records: { type: 1 | 5 | 28; data: Buffer; ttl?: number; owner?: Buffer }[], flags = 0x8180): Buffer {
  const qname = Buffer.concat([...name.split(".").map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, "latin1")])), Buffer.from([0])]);
  const header = Buffer.alloc(12);
  header.writeUInt16BE(0x1234, 0);
  header.writeUInt16BE(flags, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(records.length, 6);
  const question = Buffer.concat([qname, Buffer.from([0, 1, 0, 1])]);
  const answers = records.map((r) => {
    const fixed = Buffer.alloc(10);
    fixed.writeUInt16BE(r.type, 0);
    fixed.writeUInt16BE(1, 2);
    fixed.writeUInt32BE(r.ttl ?? 60, 4);
    fixed.writeUInt16BE(r.data.length, 8);
    return Buffer.concat([r.owner ?? Buffer.from([0xc0, 12]), fixed, r.data]);
  });
  return Buffer.concat([header, question, ...answers]);
}

describe("parseDnsResponse", () => {
  it("reads AAAA records; skips other classes, other owners and bad lengths", () => {
    const v6 = Buffer.from("2001000200000000000000000000000b", "hex");
    const r = response("Live.Lab.Test", [
      { type: 28, data: v6, ttl: 5 },
      { type: 1, data: Buffer.from([198, 18, 0, 1, 2]) },
      { type: 1, data: Buffer.from([198, 18, 0, 9]), owner: Buffer.from([5, 0x6f, 0x74, 0x68, 0x65, 0x72, 0]) },
    ]);
    assert.deepEqual(parseDnsResponse(r), [{ name: "live.lab.test", address: "2001:2::b", family: 6, ttl: 5 }]);
  });

  it("malformed or hostile input is undefined, never a throw: queries, truncation, pointer loops, overlong names", () => {
    const ok = response("a.lab.test", [{ type: 1, data: Buffer.from([198, 18, 0, 1]) }]);
    assert.equal(parseDnsResponse(response("a.lab.test", [], 0x0100)), undefined, "a query");
    for (let cut = 0; cut < ok.length; cut++) assert.equal(parseDnsResponse(ok.subarray(0, cut)), undefined, `cut at ${cut}`);
    const loop = Buffer.from(ok);
    loop[12] = 0xc0;
    loop[13] = 12; // the question's name points at itself
    assert.equal(parseDnsResponse(loop), undefined);
    const long = response(Array.from({ length: 60 }, () => "abcde").join("."), []);
    assert.equal(parseDnsResponse(long), undefined, "a name over 255 octets");
    for (let i = 0; i < 2000; i++) {
      const junk = Buffer.from(ok);
      junk[12 + (i % (ok.length - 12))] = (i * 131) & 255;
      parseDnsResponse(junk);
    }
  });
});
