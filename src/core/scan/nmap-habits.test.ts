/**
 * nmap's habits in the scanner's pure parts: the grepable format against
 * nmap's own output (test/fixtures/nmap/), hosts released in walk order,
 * progress by probes, the -T templates, --top-ports.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import fc from "fast-check";
import { grepable, ctime } from "./grepable.js";
import { InOrder } from "./in-order.js";
import type { HostResult, PortResult } from "./model.js";
import { parseTiming, timingTemplate } from "./nmap-timing.js";
import { scanProgress, shortDuration } from "./progress.js";
import { serviceName, topPorts } from "./services.js";
import { DEFAULT_PORTS } from "./targets.js";

const fixture = (name: string) => readFileSync(new URL(`../../../test/fixtures/nmap/${name}`, import.meta.url), "utf8");
/** The host and port lines (the comments differ: they name the program and the time). */
const body = (text: string) => text.split("\n").filter((l) => l.startsWith("Host: "));

const host = (address: string, ports: PortResult[], status: "up" | "down" = "up"): HostResult => ({ address, family: 4, status, reason: "user-set", ports, startedAt: 0, endedAt: 0 });
const closed = (port: number): PortResult => ({ port, state: "closed", reason: "conn-refused" });

test("-oG writes nmap's lines: ports with nmap's service names (empty where its table has none)", () => {
  const ours = grepable({ args: "halfopen scan", version: "0.1.0", startedAt: 0, endedAt: 80, total: 1, portScan: true, hosts: [host("127.0.0.1", [closed(22), closed(80), closed(631), { port: 18081, state: "open", reason: "syn-ack" }])] });
  assert.deepEqual(body(ours), body(fixture("loopback-ports.gnmap")));
});

test("-oG leaves out the most common closed or filtered state at 15 or more ports, as nmap does", () => {
  const ours = grepable({ args: "x", version: "0.1.0", startedAt: 0, endedAt: 1, total: 1, portScan: true, hosts: [host("127.0.0.1", Array.from({ length: 100 }, (_, i) => closed(i + 1)))] });
  assert.deepEqual(body(ours), body(fixture("loopback-ignored.gnmap")));
  const fourteen = grepable({ args: "x", version: "0.1.0", startedAt: 0, endedAt: 1, total: 1, portScan: true, hosts: [host("127.0.0.1", Array.from({ length: 14 }, (_, i) => closed(i + 1)))] });
  assert.doesNotMatch(fourteen, /Ignored State/);
});

test("-oG of a discovery-only scan (-sn): Status lines of the up hosts, no Ports; the footer counts as nmap's", () => {
  const hosts = ["127.0.0.1", "127.0.0.2", "127.0.0.3"].map((a) => host(a, []));
  const ours = grepable({ args: "x", version: "0.1.0", startedAt: 0, endedAt: 1, total: 3, portScan: false, hosts: [...hosts, host("127.0.0.4", [], "down")] });
  assert.deepEqual(body(ours), body(fixture("loopback-sn.gnmap")));
  assert.match(ours, /-- 3 IP addresses \(3 hosts up\) scanned in 0\.00 seconds\n$/);
  assert.match(fixture("loopback-sn.gnmap"), /-- 3 IP addresses \(3 hosts up\) scanned in 0\.00 seconds\n$/);
});

test("-oG keeps every host on one line whatever its name holds", () => {
  const h = { ...host("198.18.0.1", [closed(22)]), names: ["evil\tname\nHost: 198.18.0.99 ()\tStatus: Up"] };
  const ours = grepable({ args: "x", version: "0.1.0", startedAt: 0, endedAt: 1, total: 1, portScan: true, hosts: [h] });
  assert.equal(ours.split("\n").filter((l) => l.startsWith("Host: ")).length, 2);
  assert.doesNotMatch(ours, /198\.18\.0\.99 \(\)\tStatus/);
});

test("ctime is nmap's date: day, month, day of month padded to 2, time, year", () => {
  assert.match(ctime(Date.UTC(2026, 11, 6, 6, 0, 0)), /^(Sun|Sat|Mon) Dec +[56] \d\d:\d\d:\d\d 2026$/);
});

test("InOrder releases hosts in walk order, whatever order they finish in, and nothing twice", () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 254 }), { minLength: 1, maxLength: 60 }).map((xs) => [...new Set(xs)]), fc.infiniteStream(fc.nat()), (octets, seeds) => {
      const walk = octets.map((o) => `198.18.0.${o}`);
      const finished = [...walk];
      // A random finishing order.
      for (let i = finished.length - 1; i > 0; i--) {
        const j = (seeds.next().value as number) % (i + 1);
        [finished[i], finished[j]] = [finished[j] as string, finished[i] as string];
      }
      const order = new InOrder<{ address: string }>(walk[Symbol.iterator]());
      const out: string[] = [];
      for (const a of finished) out.push(...order.push({ address: a }).map((h) => h.address));
      out.push(...order.rest().map((h) => h.address));
      assert.deepEqual(out, walk);
    }),
  );
});

test("InOrder holds a host until the ones before it finish; rest() gives the stragglers in address order", () => {
  const order = new InOrder<{ address: string }>(["198.18.0.1", "198.18.0.2", "198.18.0.3"][Symbol.iterator]());
  assert.deepEqual(order.push({ address: "198.18.0.3" }), []);
  assert.deepEqual(order.push({ address: "198.18.0.1" }).map((h) => h.address), ["198.18.0.1"]);
  assert.deepEqual(order.rest().map((h) => h.address), ["198.18.0.3"]);
});

test("progress counts probes: -Pn is hosts x ports; retries are not progress; the ETA follows the probe rate", () => {
  const base = { total: 10, done: 0, skipped: 0, up: 0, down: 0, probes: 0, retries: 0, startedAt: 0 };
  assert.deepEqual(scanProgress({ ...base, total: 0 }, 100, false, 1000).fraction, 0, "before the targets are planned");
  const half = scanProgress({ ...base, probes: 500 }, 100, false, 10_000);
  assert.equal(half.fraction, 0.5);
  assert.equal(Math.round(half.etaMs ?? 0), 10_000);
  assert.equal(scanProgress({ ...base, probes: 600, retries: 100 }, 100, false, 10_000).fraction, 0.5);
  // With discovery: the sweeps found 2 of 10 up, so the work is 10 addresses + 2 x 100 ports.
  const swept = scanProgress({ ...base, down: 8, done: 8, discovered: 2, probes: 100 }, 100, true, 1000);
  assert.equal(swept.fraction, (8 + 100) / (10 + 200));
  assert.ok(scanProgress({ ...base, total: 5, done: 5, up: 5, probes: 500 }, 100, false, 1).fraction < 1, "held under 1 until the end");
  assert.equal(shortDuration(65_000), "1m05s");
  assert.equal(shortDuration(3_725_000), "1h02m");
});

test("-T0..-T5: nmap's levels and names; T4 and T5 use nmap's RTT bounds and retries; T0-T2 are serial and paced", () => {
  assert.equal(parseTiming("4"), 4);
  assert.equal(parseTiming("Aggressive"), 4);
  assert.throws(() => parseTiming("6"), /0-5 or paranoid/);
  assert.deepEqual(timingTemplate(4).rtt, { initialMs: 500, minMs: 100, maxMs: 1250 });
  assert.equal(timingTemplate(4).retries, 6);
  assert.deepEqual(timingTemplate(5).rtt, { initialMs: 250, minMs: 50, maxMs: 300 });
  assert.equal(timingTemplate(5).retries, 2);
  for (const [level, seconds] of [[0, 300], [1, 15], [2, 0.4]] as const) {
    assert.equal(timingTemplate(level).maxHalfOpen, 1);
    assert.ok(Math.abs(1 / (timingTemplate(level).releasePerSecond ?? 0) - seconds) < 1e-9);
  }
  assert.equal(timingTemplate(undefined).name, "normal");
});

test("--top-ports: nmap's frequency order; the first 20 are the default ports; services named from the same table", () => {
  assert.deepEqual(topPorts(20), [...DEFAULT_PORTS]);
  assert.equal(topPorts(1000).length, 1000);
  assert.equal(new Set(topPorts(1000)).size, 1000);
  assert.equal(serviceName(22), "ssh");
  assert.equal(serviceName(631), "ipp");
  assert.equal(serviceName(18081), "unknown");
});
