import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { HalfOpenError } from "../../errors.js";
import { DEFAULT_PORTS, TargetSet, parsePorts, parseShard, parseTarget, type AddressRange } from "./targets.js";
import { NMAP_T3, RttEstimator, outcomeOf } from "./timing.js";

const range = (t: string): AddressRange => {
  const s = parseTarget(t);
  assert.equal(s.kind, "range");
  return (s as { range: AddressRange }).range;
};
const all = (set: TargetSet, shard?: { index: number; count: number }) => [...set.addresses(shard)].map((a) => a.address);
const badTarget = (fn: () => unknown, message: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof HalfOpenError && e.code === "HALFOPEN_BAD_TARGET" && message.test(e.message));

describe("scan targets", () => {
  it("reads addresses, CIDR blocks, octet and full ranges, IPv6 and host names", () => {
    assert.deepEqual(all(new TargetSet([range("198.18.0.1")])), ["198.18.0.1"]);
    assert.deepEqual(all(new TargetSet([range("198.18.0.5/30")])), ["198.18.0.4", "198.18.0.5", "198.18.0.6", "198.18.0.7"]);
    assert.deepEqual(all(new TargetSet([range("198.18.0.250-252")])), ["198.18.0.250", "198.18.0.251", "198.18.0.252"]);
    assert.deepEqual(all(new TargetSet([range("198.18.0.255-198.18.1.1")])), ["198.18.0.255", "198.18.1.0", "198.18.1.1"]);
    assert.deepEqual(all(new TargetSet([range("fd00::fe-fd00::101")])), ["fd00::fe", "fd00::ff", "fd00::100", "fd00::101"]);
    assert.deepEqual(all(new TargetSet([range("::1")])), ["::1"]);
    assert.equal(new TargetSet([range("fd00::/64")]).count(), 2n ** 64n);
    assert.equal(new TargetSet([range("0.0.0.0/0")]).count(), 2n ** 32n);
    assert.deepEqual(parseTarget("router.lan"), { kind: "name", name: "router.lan", text: "router.lan" });
    assert.deepEqual(parseTarget("my-host.example."), { kind: "name", name: "my-host.example", text: "my-host.example." });
  });

  it("nonsense is one BAD_TARGET error that names the value", () => {
    badTarget(() => parseTarget("198.18.0.0/33"), /"198\.18\.0\.0\/33": the prefix must be 0 to 32/);
    badTarget(() => parseTarget("fd00::/129"), /prefix must be 0 to 128/);
    badTarget(() => parseTarget("198.18.0.9-3"), /ends before it starts/);
    badTarget(() => parseTarget("198.18.0.1-256"), /256 is not an octet/);
    badTarget(() => parseTarget("198.18.0.1-::2"), /mixes IPv4 and IPv6/);
    badTarget(() => parseTarget("300.1.1.1"), /not an IP address, CIDR block, range or host name/);
    badTarget(() => parseTarget("10.1"), /not an IP address/);
    badTarget(() => parseTarget("bad_name!"), /not an IP address, CIDR block, range or host name/);
    badTarget(() => parseTarget(""), /empty target/);
    badTarget(() => parseTarget("x/8"), /"x" is not an IP address/);
  });

  it("excludes, overlaps and duplicates: each address once, in order, IPv4 before IPv6", () => {
    const set = new TargetSet([range("198.18.0.8/30"), range("198.18.0.0/29"), range("198.18.0.3"), range("::1")], [range("198.18.0.2-5"), range("198.18.0.10")]);
    assert.deepEqual(all(set), ["198.18.0.0", "198.18.0.1", "198.18.0.6", "198.18.0.7", "198.18.0.8", "198.18.0.9", "198.18.0.11", "::1"]);
    assert.equal(set.count(), 8n);
  });

  it("a large block is walked lazily: the first addresses come at once, nothing is materialised", () => {
    const set = new TargetSet([range("198.18.0.0/15")]);
    const it = set.addresses();
    assert.equal(it.next().value?.address, "198.18.0.0");
    assert.equal(it.next().value?.address, "198.18.0.1");
    assert.equal(set.ranges.length, 1);
  });

  it("property: the shards k/n are disjoint and their union is the whole set; shardCount is exact", () => {
    const octet = fc.integer({ min: 0, max: 255 });
    const r = fc.tuple(octet, octet).map(([a, b]) => ({ family: 4 as const, first: BigInt(Math.min(a, b)), last: BigInt(Math.max(a, b)) }));
    fc.assert(
      fc.property(fc.array(r, { maxLength: 5 }), fc.array(r, { maxLength: 3 }), fc.integer({ min: 1, max: 7 }), (targets, excludes, n) => {
        const set = new TargetSet(targets, excludes);
        const whole = all(set);
        const parts = Array.from({ length: n }, (_, k) => all(set, { index: k + 1, count: n }));
        parts.forEach((p, k) => assert.equal(BigInt(p.length), set.shardCount({ index: k + 1, count: n })));
        const union = parts.flat();
        assert.equal(union.length, whole.length, "no overlap");
        assert.deepEqual(new Set(union), new Set(whole));
        assert.equal(BigInt(whole.length), set.count());
      }),
      { numRuns: 200 },
    );
  });

  it("shards as k/n", () => {
    assert.deepEqual(parseShard("2/3"), { index: 2, count: 3 });
    badTarget(() => parseShard("4/3"), /expected k\/n with 1 ≤ k ≤ n/);
    badTarget(() => parseShard("0/3"), /expected k\/n/);
  });
});

describe("IPv4-mapped addresses and membership", () => {
  it("--exclude A excludes ::ffff:A; a range over ::ffff:0:0/96 is scanned as IPv4", () => {
    const set = new TargetSet([parseTarget("::ffff:198.18.0.0/126")].map((t) => (t as { range: AddressRange }).range), [parseTarget("198.18.0.1")].map((t) => (t as { range: AddressRange }).range));
    assert.deepEqual([...set.addresses()].map((a) => a.address), ["198.18.0.0", "198.18.0.2", "198.18.0.3"]);
    const other = new TargetSet([(parseTarget("198.18.0.0/30") as { range: AddressRange }).range], [(parseTarget("::ffff:198.18.0.2") as { range: AddressRange }).range]);
    assert.deepEqual([...other.addresses()].map((a) => a.address), ["198.18.0.0", "198.18.0.1", "198.18.0.3"]);
  });

  it("includes() agrees with the walk, in every shard", () => {
    const set = new TargetSet(["198.18.0.0/29", "198.18.1.5-9", "2001:2::/126"].map((t) => (parseTarget(t) as { range: AddressRange }).range), [(parseTarget("198.18.0.3") as { range: AddressRange }).range]);
    for (const shard of [undefined, { index: 1, count: 3 }, { index: 3, count: 3 }]) {
      const walked = new Set([...set.addresses(shard)].map((a) => a.address));
      for (const a of ["198.18.0.0", "198.18.0.3", "198.18.0.7", "198.18.0.8", "198.18.1.5", "198.18.1.9", "198.18.1.10", "2001:2::", "2001:2::3", "2001:2::4", "::ffff:198.18.0.1", "x"]) {
        const mapped = a.startsWith("::ffff:") ? a.slice(7) : a;
        assert.equal(set.includes(a, shard), walked.has(mapped), `${a} in ${JSON.stringify(shard)}`);
      }
    }
  });
});

describe("scan ports", () => {
  it("lists and ranges, duplicates dropped, order kept; - is every port", () => {
    assert.deepEqual(parsePorts("22,80,8000-8003,80"), [22, 80, 8000, 8001, 8002, 8003]);
    assert.equal(parsePorts("-").length, 65535);
    assert.equal(parsePorts("1-65535").length, 65535);
    assert.deepEqual(parsePorts("65530-"), [65530, 65531, 65532, 65533, 65534, 65535]);
    assert.equal(DEFAULT_PORTS.length, 20);
    assert.equal(new Set(DEFAULT_PORTS).size, 20);
  });

  it("bad ports are BAD_TARGET errors", () => {
    badTarget(() => parsePorts("0"), /ports are 1 to 65535/);
    badTarget(() => parsePorts("70000"), /ports are 1 to 65535/);
    badTarget(() => parsePorts("90-80"), /ends before it starts/);
    badTarget(() => parsePorts("http"), /"http": ports are 1 to 65535/);
    badTarget(() => parsePorts(""), /empty port list/);
  });
});

describe("scan timing and outcomes", () => {
  it("nmap's estimator: initial 1 s; first sample sets srtt and rttvar; timeout = srtt + 4 rttvar, clamped to 100 ms - 10 s", () => {
    const scanWide = new RttEstimator();
    const host = new RttEstimator();
    assert.equal(host.timeoutMs(scanWide), NMAP_T3.initialMs);
    scanWide.sample(20);
    assert.equal(host.timeoutMs(scanWide), 100, "20 + 4 × 20 = 100");
    host.sample(200);
    assert.equal(host.timeoutMs(scanWide), 1000, "200 + 4 × 200");
    host.sample(200);
    assert.equal(host.srtt, 200);
    assert.equal(host.rttvar, 150, "(0 - 200) / 4 off 200");
    assert.equal(host.timeoutMs(), 800);
    const slow = new RttEstimator();
    slow.sample(5000);
    assert.equal(slow.timeoutMs(), 10_000, "clamped to the maximum");
    const fast = new RttEstimator();
    fast.sample(0.1);
    assert.equal(fast.timeoutMs(), 100, "clamped to the minimum");
  });

  it("errno to state like nmap; local errors are never closed", () => {
    assert.deepEqual(outcomeOf(undefined), { kind: "final", state: "open", reason: "syn-ack" });
    assert.deepEqual(outcomeOf("ECONNREFUSED"), { kind: "final", state: "closed", reason: "conn-refused" });
    assert.deepEqual(outcomeOf("TIMEOUT"), { kind: "silent" });
    assert.deepEqual(outcomeOf("EHOSTUNREACH"), { kind: "final", state: "filtered", reason: "host-unreach" });
    for (const code of ["EMFILE", "ENFILE", "EADDRNOTAVAIL", "ENOBUFS"]) assert.deepEqual(outcomeOf(code), { kind: "local", reason: code });
    assert.equal((outcomeOf("EWHATEVER") as { state: string }).state, "unknown");
  });
});
