/**
 * How the tracefs source reads the kernel's buffers (root, netns lab, the
 * native helper): a stream of connects is read in batches on the busy timer,
 * far fewer reads than records, and a burst after it is seen too. That the
 * reads stop on an idle host is measured by the cost benchmark's idle rows
 * instead: under CI the host is never idle (a namespace of its own makes 500
 * connects a second). The attempts counted are the lab connector's only.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ConnectionEvent } from "../../src/core/events.js";
import { loadNative } from "../../src/platform/linux/native.js";
import { TracefsSource } from "../../src/platform/linux/tracefs-source.js";
import { describeLab, droppedPorts, LAB_ADDRESS, until } from "./lab.js";
import { runConnector } from "./watch-process.js";

/** A started source (no raw senders, no DNS) and its connects counted per pid as they are read. */
async function counting(): Promise<{ source: TracefsSource; connects: Map<number, number>; consumed: Promise<void> }> {
  const source = new TracefsSource({ raw: false, dns: false });
  await source.start();
  const connects = new Map<number, number>();
  const consumed = (async () => {
    for await (const batch of source.events() as AsyncIterable<ConnectionEvent[]>) {
      for (const e of batch) if (e.type === "connect") connects.set(e.pid, (connects.get(e.pid) ?? 0) + 1);
    }
  })();
  return { source, connects, consumed };
}

describeLab("tracefs source: a stream is read in batches", { file: "integration/tracefs-reads", prefix: "horeads", needs: () => (loadNative() ? undefined : "needs the native helper (npm run install)") }, (lab) => {
  test("2,000 connects are read in batches, far fewer reads than records; a burst after them is seen", async () => {
    const { source, connects, consumed } = await counting();
    try {
      assert.equal(source.wakeMode, "data");
      const r0 = source.stats().reads ?? 0;
      const first = await runConnector(lab, { title: "ho-reads-a", host: LAB_ADDRESS, ports: droppedPorts(2000), holdMs: 200 });
      await until("every connect seen", () => connects.get(first.pid) === 2000, 10_000);
      const burst = (source.stats().reads ?? 0) - r0;
      // Two records per attempt (into and out of SYN_SENT): reading each wake-up alone would be thousands of reads.
      assert.ok(burst < 1000, `${burst} reads for 4,000 records`);
      await first.exited;
      const second = await runConnector(lab, { title: "ho-reads-b", host: LAB_ADDRESS, ports: droppedPorts(20, 100), holdMs: 200 });
      await until("the next burst is seen", () => connects.get(second.pid) === 20, 10_000);
      await second.exited;
    } finally {
      source.stop();
      await consumed;
    }
  });

  test("at the relaxed pace (an incident open) the same stream is read whole in far fewer reads", async () => {
    const { source, connects, consumed } = await counting();
    // The same stream of 2,000 connects over a second, held until 300 ms after the last, read at the prompt pace and
    // then at the relaxed one: reads from the first connect until every connect is seen and the connector has closed
    // them all (their ends read too).
    const stream = async (title: string): Promise<number> => {
      const r0 = source.stats().reads ?? 0;
      const c = await runConnector(lab, { title, host: LAB_ADDRESS, ports: droppedPorts(2000), holdMs: 300, spreadMs: 1000 });
      await until(`every connect of ${title} seen`, () => connects.get(c.pid) === 2000, 10_000);
      await c.exited;
      return (source.stats().reads ?? 0) - r0;
    };
    try {
      const prompt = await stream("ho-reads-prompt");
      assert.equal(source.stats().relaxedReads, 0);
      source.setPace("relaxed");
      const relaxed = await stream("ho-reads-relaxed");
      assert.ok((source.stats().relaxedReads ?? 0) > 0, "reads were made at the relaxed pace");
      // 2 ms against 20 ms between reads while the stream runs: about a tenth as many; a third is the bound (a slow
      // host stretches the prompt timer more than the relaxed one).
      assert.ok(relaxed * 3 < prompt, `relaxed ${relaxed} reads, prompt ${prompt}`);
      source.setPace("prompt");
      const after = await runConnector(lab, { title: "ho-reads-after", host: LAB_ADDRESS, ports: droppedPorts(20, 100), holdMs: 200 });
      await until("a burst after the pace is prompt again is seen", () => connects.get(after.pid) === 20, 10_000);
      await after.exited;
    } finally {
      source.stop();
      await consumed;
    }
  });
});
