import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Sink, SinkChain, type WatchItem } from "./sink.js";

const warning = (message: string): WatchItem => ({ kind: "warning", level: "note", message });

/** A sink that logs what happens to it into `log`. */
function logging(name: string, log: string[], extra: Partial<Sink> = {}): Sink {
  return {
    name,
    open: () => {
      log.push(`open ${name}`);
    },
    write: (item) => {
      log.push(`${name} ${item.kind === "warning" ? item.message : item.kind}`);
    },
    close: () => {
      log.push(`close ${name}`);
    },
    ...extra,
  };
}

describe("SinkChain", () => {
  it("opens in order, delivers every item to every sink in order, closes in reverse", async () => {
    const log: string[] = [];
    const chain = new SinkChain([logging("a", log), logging("b", log)]);
    await chain.open();
    chain.publish(warning("1"));
    chain.publish(warning("2"));
    chain.close();
    chain.close();
    assert.deepEqual(log, ["open a", "open b", "a 1", "b 1", "a 2", "b 2", "close b", "close a"]);
  });

  it("a sink that throws at open: the sinks already open are closed (reverse), later ones never open", async () => {
    const log: string[] = [];
    const boom: Sink = { name: "boom", open: () => Promise.reject(new Error("no port")), close: () => log.push("close boom") };
    const chain = new SinkChain([logging("a", log), logging("b", log), boom, logging("c", log)]);
    await assert.rejects(chain.open(), /no port/);
    assert.deepEqual(log, ["open a", "open b", "close b", "close a"]);
    chain.publish(warning("after"));
    assert.equal(log.length, 4, "a closed chain delivers nothing");
  });

  it("an earlier sink annotates an item for the later ones; what it publishes meanwhile comes after", async () => {
    const seen: string[] = [];
    const annotator: Sink = {
      name: "store",
      write: (item) => {
        if (item.kind === "finding") {
          item.storage = { stored: true, id: 42, runIncident: 1 };
          chain.publish(warning("stored late"));
        }
      },
    };
    const printer: Sink = {
      name: "printer",
      write: (item) => {
        if (item.kind === "finding") seen.push(`finding stored as ${item.storage?.stored ? item.storage.id : "-"}`);
        if (item.kind === "warning") seen.push(item.message);
      },
    };
    const chain = new SinkChain([annotator, printer]);
    await chain.open();
    chain.publish({ kind: "finding", finding: { type: "x", time: 1 }, emittedAt: 1 });
    assert.deepEqual(seen, ["finding stored as 42", "stored late"]);
  });

  it("close goes on past a sink that throws, then rethrows the first error", async () => {
    const log: string[] = [];
    const bad: Sink = {
      name: "bad",
      close: () => {
        throw new Error("close failed");
      },
    };
    const chain = new SinkChain([logging("a", log), bad, logging("c", log)]);
    await chain.open();
    assert.throws(() => chain.close(), /close failed/);
    assert.deepEqual(log, ["open a", "open c", "close c", "close a"]);
  });

  it("finish collects the sinks' facts for the stop record", async () => {
    const chain = new SinkChain([{ name: "x", finish: () => ({ unstored: 2 }) }, { name: "y" }]);
    await chain.open();
    assert.deepEqual(await chain.finish(0), { unstored: 2 });
  });
});
