import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { HalfOpenError } from "../../errors.js";
import { changeLine, compareAddresses, coverageOf, diffScans, type ScanForDiff } from "./diff.js";
import { journalEnd, journalHeader, journalHost, readJournal, specKey, specMismatch, specProblem, type ScanSpec } from "./journal.js";
import type { HostResult } from "./model.js";
import type { PortState } from "./timing.js";

const spec: ScanSpec = { targets: ["198.18.0.0/24"], exclude: [], ports: [22, 80], discovery: "auto", maxHalfOpen: 10, retries: 1 };
const host = (address: string, ports: Record<number, PortState> = {}, status: "up" | "down" = "up"): HostResult => ({
  address,
  family: 4,
  status,
  reason: status === "up" ? "echo-reply" : "no-response",
  ports: Object.entries(ports).map(([port, state]) => ({ port: Number(port), state, reason: state === "open" ? "syn-ack" : "conn-refused" })),
  startedAt: 1,
  endedAt: 2,
});
const badResume = (fn: () => unknown, message: RegExp) => assert.throws(fn, (e: unknown) => e instanceof HalfOpenError && e.code === "HALFOPEN_BAD_RESUME" && message.test(e.message));

describe("scan resume journal", () => {
  it("reads back what was written: spec, hosts in order, whether the scan ended", () => {
    const hosts = [host("198.18.0.1", { 22: "open", 80: "closed" }), host("198.18.0.2", {}, "down")];
    const text = journalHeader(spec, 1000) + hosts.map(journalHost).join("");
    const j = readJournal(text, "f");
    assert.deepEqual(j.spec, spec);
    assert.equal(j.startedAt, 1000);
    assert.deepEqual(j.hosts, hosts);
    assert.equal(j.complete, false);
    assert.equal(j.validBytes, Buffer.byteLength(text));
    assert.equal(readJournal(text + journalEnd({ up: 1 }), "f").complete, true);
  });

  it("ignores a torn last line (a scan killed while writing) and says where the whole lines end", () => {
    const whole = journalHeader(spec, 1) + journalHost(host("198.18.0.1", { 22: "open" }));
    const torn = `${whole}${journalHost(host("198.18.0.2")).slice(0, 20)}`;
    const j = readJournal(torn, "f");
    assert.equal(j.hosts.length, 1);
    assert.equal(j.validBytes, whole.length);
    // Any cut of a valid journal reads as a prefix of its hosts.
    const full = whole + journalHost(host("198.18.0.2", { 80: "closed" })) + journalHost(host("198.18.0.3", {}, "down"));
    const header = journalHeader(spec, 1).length;
    fc.assert(
      fc.property(fc.integer({ min: header, max: full.length }), (cut) => {
        const r = readJournal(full.slice(0, cut), "f");
        const expected = full.slice(0, r.validBytes).split("\n").length - 2;
        assert.equal(r.hosts.length, expected);
        assert.ok(r.validBytes <= cut);
      }),
    );
  });

  it("refuses files it did not write, newer versions and lines after the end, with HALFOPEN_BAD_RESUME", () => {
    badResume(() => readJournal("", "f"), /no whole line/);
    badResume(() => readJournal("hello\n", "f"), /line 1 is not JSON/);
    badResume(() => readJournal('{"type":"scan"}\n', "f"), /not halfopen-scan-journal/);
    badResume(() => readJournal(`${journalHeader(spec, 1).replace('"version":1', '"version":9')}`, "f"), /version 9/);
    badResume(() => readJournal(`${journalHeader(spec, 1)}{"type":"host","host":{"address":1}}\n`, "f"), /line 2 is not a host result/);
    badResume(() => readJournal(`${journalHeader(spec, 1)}${journalEnd({})}${journalHost(host("198.18.0.1"))}`, "f"), /line 3 comes after the end/);
    badResume(() => readJournal(`${journalHeader({ ...spec, ports: [0] }, 1)}`, "f"), /does not say what the scan covers/);
  });

  it("names the first difference between the journal's scan and the command line's", () => {
    assert.equal(specMismatch(spec, { ...spec, maxHalfOpen: 50 }), undefined);
    assert.match(specMismatch(spec, { ...spec, ports: [22] }) ?? "", /ports: the journal has 22,80, the command line 22/);
    assert.match(specMismatch(spec, { ...spec, shard: { index: 1, count: 3 } }) ?? "", /shard/);
    assert.equal(specKey(spec), specKey({ ...spec, retries: 5, maxHalfOpen: 3 }));
    assert.notEqual(specKey(spec), specKey({ ...spec, discovery: "none" }));
  });
});

describe("scan diff", () => {
  const scanOf = (hosts: HostResult[], complete = true, ports = [22, 80, 443]): ScanForDiff => ({ hosts, ports, complete });

  it("reports hosts up and down, ports opened, closed and changed, in address order", () => {
    const before = scanOf([host("198.18.0.10", { 22: "open", 80: "closed", 443: "closed" }), host("198.18.0.2", { 22: "open", 80: "closed", 443: "filtered" }), host("198.18.0.3", { 22: "open" })]);
    const after = scanOf([host("198.18.0.2", { 22: "closed", 80: "open", 443: "closed" }), host("198.18.0.10", { 22: "open", 80: "closed", 443: "closed" }), host("198.18.0.9", { 443: "open", 22: "closed" })]);
    const changes = diffScans(before, after);
    assert.deepEqual(changes.map(changeLine), [
      "- 198.18.0.2 22/tcp closed (was open)",
      "+ 198.18.0.2 80/tcp open (was closed)",
      "~ 198.18.0.2 443/tcp closed (was filtered)",
      "- 198.18.0.3 down (had 22/tcp open)",
      "+ 198.18.0.9 up (echo-reply): 443/tcp open",
    ]);
    assert.deepEqual(diffScans(after, after), []);
  });

  it("says nothing about hosts an interrupted scan did not reach, ports only one scan checked, or unknown", () => {
    const before = scanOf([host("198.18.0.1", { 22: "open" })], false);
    const after = scanOf([host("198.18.0.2", { 22: "open" })], false);
    assert.deepEqual(diffScans(before, after), []);
    const a = scanOf([host("198.18.0.1", { 22: "open", 80: "open", 443: "closed" })], true, [22, 80, 443]);
    const b = scanOf([host("198.18.0.1", { 22: "unknown", 80: "closed", 8080: "open" })], true, [22, 80, 8080]);
    assert.deepEqual(diffScans(a, b), [{ change: "port-closed", address: "198.18.0.1", port: 80, from: "open", to: "closed" }]);
  });

  it("scans of different targets: a host only one of them covered is neither up nor down in the other", () => {
    const a = { targets: ["198.18.0.0/30"], exclude: [] };
    const b = { targets: ["198.18.0.2-5"], exclude: ["198.18.0.4"] };
    const before: ScanForDiff = { ...scanOf([host("198.18.0.1", { 22: "open" }), host("198.18.0.2", { 22: "open" })]), covers: coverageOf(a, []) };
    const after: ScanForDiff = { ...scanOf([host("198.18.0.5", { 22: "open" })]), covers: coverageOf(b, []) };
    assert.deepEqual(diffScans(before, after).map(changeLine), ["- 198.18.0.2 down (had 22/tcp open)"], ".1 and .5: only one scan covered each");
    assert.equal(diffScans({ ...before, covers: undefined }, { ...after, covers: undefined }).length, 3, "without coverage, .1 would be down and .5 up");
    assert.equal(coverageOf(b, [])("198.18.0.4"), false, "excluded");
    assert.equal(coverageOf({ ...a, shard: { index: 2, count: 2 } }, [])("198.18.0.1"), true);
    assert.equal(coverageOf({ ...a, shard: { index: 2, count: 2 } }, [])("198.18.0.2"), false);
  });

  it("a journal's spec is held to the command line's bounds", () => {
    const base = { targets: ["198.18.0.1"], exclude: [], ports: [22], discovery: "none", maxHalfOpen: 10, retries: 1 };
    assert.equal(specProblem(base), undefined);
    for (const [change, why] of [
      [{ shard: { index: 1, count: 0 } }, /shard/],
      [{ shard: { index: -1, count: -3 } }, /shard/],
      [{ shard: { index: 3, count: 2 } }, /shard/],
      [{ retries: 1e9 }, /retries/],
      [{ maxHalfOpen: 1e7 }, /maxHalfOpen/],
      [{ maxHalfOpen: 0 }, /maxHalfOpen/],
      [{ ports: [22, 22] }, /twice/],
      [{ ports: [] }, /port list/],
      [{ targets: [] }, /targets/],
      [{ targets: ["198.18.0.1/33"] }, /refuses/],
      [{ bannerMs: 1e9 }, /bannerMs/],
      [{ discovery: "raw" }, /discovery/],
    ] as const)
      assert.match(specProblem({ ...base, ...change }) ?? "", why, JSON.stringify(change));
  });

  it("orders addresses numerically, IPv4 before IPv6", () => {
    assert.deepEqual(["::1", "198.18.0.10", "198.18.0.9", "127.0.0.1"].sort(compareAddresses), ["127.0.0.1", "198.18.0.9", "198.18.0.10", "::1"]);
  });
});
