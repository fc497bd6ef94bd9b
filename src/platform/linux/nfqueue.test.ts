/**
 * The NFQUEUE message parser against what the kernel really sent
 * (test/fixtures/linux/raw/README.md says how it was captured), and against
 * damaged input: never a throw, every id that can be read is handed back.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { fixture } from "../../../test/support/fixtures.js";
import { parseQueueMessages } from "./nfqueue.js";

test("a real capture: an IPv4 and an IPv6 SYN held on LOCAL_OUT, with their owner's uid and gid", () => {
  const r = parseQueueMessages(fixture("linux/raw/nfqueue-syn-uid1000.bin"));
  assert.deepEqual(r.errors, []);
  assert.equal(r.bad, 0);
  assert.deepEqual(r.unreadable, []);
  assert.deepEqual(
    r.packets.map((p) => [p.id, p.queue, p.hook, p.uid, p.gid, p.family, p.saddr, p.daddr, p.dport, p.flags]),
    [
      [1, 4226, 3, 1000, 1000, 4, "198.18.1.1", "198.18.1.2", 9, 2],
      [2, 4226, 3, 1000, 1000, 6, "2001:2::1", "2001:2::2", 9, 2],
    ],
  );
  assert.ok(r.packets.every((p) => p.sport >= 1024), "ephemeral source ports");
});

test("a torn buffer or a payload cut short: counted, the ids still handed back to be let go, never a throw", () => {
  const real = fixture("linux/raw/nfqueue-syn-uid1000.bin");
  const torn = parseQueueMessages(real.subarray(0, real.length - 7));
  assert.equal(torn.packets.length, 1);
  assert.equal(torn.bad, 1);
  // The first message with its payload attribute cut to 10 bytes: the id is readable, the headers are not.
  const first = Buffer.from(real.subarray(0, real.readUInt32LE(0)));
  for (let a = 20; a + 4 <= first.length; a += (first.readUInt16LE(a) + 3) & ~3) {
    if ((first.readUInt16LE(a + 2) & 0x3fff) === 10) first.writeUInt16LE(14, a);
  }
  const cut = parseQueueMessages(first);
  assert.deepEqual(cut.unreadable, [1]);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
      // Random bytes never throw, and whatever is taken for a packet is a TCP header over IPv4 or IPv6.
      const r = parseQueueMessages(Buffer.from(bytes));
      for (const p of r.packets) assert.ok((p.family === 4 || p.family === 6) && p.dport <= 65535 && p.flags <= 255);
    }),
  );
});
