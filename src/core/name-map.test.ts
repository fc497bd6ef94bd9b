import assert from "node:assert/strict";
import { test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { NameMap } from "./name-map.js";

// A full collection before each heap reading, so garbage does not count as memory kept.
setFlagsFromString("--expose_gc");
const gc = runInNewContext("gc") as () => void;

test("an answer names its address for its TTL (at least minKeepMs), and a newer answer wins", () => {
  const m = new NameMap({ minKeepMs: 1000 });
  m.add("198.18.1.5", "dead5.lab.test", 30, 0);
  assert.equal(m.lookup("198.18.1.5", 29_999), "dead5.lab.test");
  assert.equal(m.lookup("198.18.1.5", 30_001), undefined, "expired");
  m.add("198.18.1.6", "short.lab.test", 0, 0);
  assert.equal(m.lookup("198.18.1.6", 999), "short.lab.test", "a zero TTL is kept minKeepMs");
  m.add("198.18.1.6", "other.lab.test", 60, 500);
  assert.equal(m.lookup("198.18.1.6", 2000), "other.lab.test");
  assert.equal(m.lookup("198.18.9.9", 0), undefined, "never answered");
});

/** The i-th of a million distinct addresses (RFC 5180's benchmarking range; nothing is sent anywhere). */
const addr = (i: number) => `2001:2::${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}`;

test("one million distinct answers: the map stays at maxEntries, the oldest go first, memory stays bounded", () => {
  const m = new NameMap({ maxEntries: 65_536 });
  gc();
  const before = process.memoryUsage().heapUsed;
  let peak = 0;
  for (let i = 0; i < 1_000_000; i++) {
    m.add(addr(i), `host-${i}.example.test`, 300, i);
    if ((i & 0xffff) === 0) peak = Math.max(peak, m.size);
  }
  assert.equal(m.size, 65_536);
  assert.ok(peak <= 65_536);
  assert.equal(m.answers, 1_000_000);
  assert.equal(m.evicted, 1_000_000 - 65_536);
  assert.equal(m.lookup(addr(0), 1_000_000), undefined, "the first answers were let go");
  assert.equal(m.lookup(addr(999_999), 1_000_000), "host-999999.example.test");
  gc();
  const grown = process.memoryUsage().heapUsed - before;
  // 65,536 entries of about 150 bytes each; a map that kept all million would be well over 100 MB.
  assert.ok(grown < 40 * 2 ** 20, `heap grew ${(grown / 2 ** 20).toFixed(1)} MiB`);
});

test("takeChanged: each answer once, with how much longer it holds; expired ones are not handed on", () => {
  const m = new NameMap({ minKeepMs: 1000 });
  m.add("198.18.1.5", "a.lab.test", 30, 0);
  m.add("198.18.1.6", "b.lab.test", 0, 0);
  m.add("198.18.1.5", "c.lab.test", 60, 100);
  assert.deepEqual(m.takeChanged(2000), [{ key: "198.18.1.5", name: "c.lab.test", keepMs: 58_100 }], "b expired at 1000; a was answered again as c");
  assert.deepEqual(m.takeChanged(2000), [], "nothing new since");
  m.add("198.18.1.7", "d.lab.test", 10, 3000);
  assert.deepEqual(m.takeChanged(3000), [{ key: "198.18.1.7", name: "d.lab.test", keepMs: 10_000 }]);
});
