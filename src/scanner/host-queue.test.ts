import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { HostQueue } from "./host-queue.js";

const tick = () => new Promise((r) => setImmediate(r));

describe("HostQueue (the scan's queue between discovery and the port checks)", () => {
  it("hands out every host once, in order, to concurrent takers; takers end after end()", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 16 }), async (n, takers, room) => {
        const q = new HostQueue<number>(room);
        const got: number[] = [];
        const workers = Array.from({ length: takers }, async () => {
          for (let h = await q.take(); h !== undefined; h = await q.take()) got.push(h);
        });
        let maxWaiting = 0;
        for (let i = 0; i < n; i++) {
          q.put(i);
          maxWaiting = Math.max(maxWaiting, q.size);
          await q.room();
        }
        q.end();
        await Promise.all(workers);
        assert.deepEqual(got, Array.from({ length: n }, (_, i) => i));
        assert.ok(maxWaiting <= room, `at most ${room} waiting (saw ${maxWaiting})`);
      }),
      { numRuns: 50 },
    );
  });

  it("room() holds the producer while `room` hosts wait, and lets it go as they are taken", async () => {
    const q = new HostQueue<number>(2);
    q.put(1);
    q.put(2);
    let released = false;
    const waiting = q.room().then(() => (released = true));
    await tick();
    assert.equal(released, false, "two wait: no room");
    assert.equal(await q.take(), 1);
    await waiting;
    assert.equal(released, true);
  });

  it("abort() wakes waiting takers (undefined) and a waiting producer", async () => {
    const q = new HostQueue<number>(1);
    const taker = q.take();
    q.put(1);
    assert.equal(await taker, 1);
    const idle = q.take();
    q.put(2);
    q.put(3);
    await idle;
    const producer = q.room();
    q.abort();
    await producer;
    assert.equal(await q.take(), undefined, "after abort, nothing more comes out");
  });
});
