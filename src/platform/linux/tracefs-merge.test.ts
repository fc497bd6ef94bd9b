import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { RecordMerge } from "./tracefs-merge.js";

describe("RecordMerge (per-CPU ring buffers to one stream)", () => {
  it("releases in time order up to the watermark; later reads never overtake what was released", () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.integer({ min: 0, max: 1000 }), { maxLength: 30 }), { minLength: 1, maxLength: 4 }), fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 1, maxLength: 6 }), (cpus, marks) => {
        // Each CPU's buffer is in order; reads deliver a prefix of each up to the read's time.
        const buffers = cpus.map((c) => [...c].sort((a, b) => a - b));
        const merge = new RecordMerge<{ timestampNs: number; cpu: number }>();
        const out: number[] = [];
        const read = (until: number) => {
          for (const [cpu, b] of buffers.entries()) while (b.length > 0 && (b[0] as number) <= until) merge.add({ timestampNs: b.shift() as number, cpu });
        };
        for (const m of [...marks].sort((a, b) => a - b)) {
          read(m);
          out.push(...merge.release(m).map((r) => r.timestampNs));
        }
        read(Number.POSITIVE_INFINITY);
        out.push(...merge.release(Number.POSITIVE_INFINITY).map((r) => r.timestampNs));
        assert.deepEqual(out, cpus.flat().sort((a, b) => a - b), "every record once, in time order");
        assert.equal(merge.pending, 0);
      }),
    );
  });

  it("a held record stops the release for at most holdNs past it; the end of the stream releases everything", () => {
    const merge = new RecordMerge<{ timestampNs: number; unnamed?: boolean }>();
    for (const r of [{ timestampNs: 10 }, { timestampNs: 20, unnamed: true }, { timestampNs: 30 }]) merge.add(r);
    const hold = (r: { unnamed?: boolean }) => r.unnamed === true;
    assert.deepEqual(merge.release(40, hold, 50).map((r) => r.timestampNs), [10], "20 waits: 40 is within 50 of it");
    assert.deepEqual(merge.release(71, hold, 50).map((r) => r.timestampNs), [20, 30], "no longer than 50");
    merge.add({ timestampNs: 80, unnamed: true });
    assert.deepEqual(merge.release(Number.POSITIVE_INFINITY, hold, 50).map((r) => r.timestampNs), [80]);
  });
});
