/**
 * The scanner library on loopback (no privileges): open and closed ports,
 * names, IPv6, the async iterator, aborting, and bad input. Traffic goes to
 * 127.0.0.0/8 and ::1 only.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { HalfOpenError } from "../errors.js";
import { nmapXml, servicesAttr, xmlAttr } from "../core/scan/nmap-xml.js";
import { scan, type HostResult } from "./scan.js";

const servers: net.Server[] = [];
const listen = (host: string, onConnection: (c: net.Socket) => void = () => undefined) =>
  new Promise<number>((resolve) => {
    const s = net.createServer((c) => {
      c.on("error", () => undefined);
      onConnection(c);
    });
    servers.push(s);
    s.listen(0, host, () => resolve((s.address() as net.AddressInfo).port));
  });

/** A port on 127.0.0.1 with nothing listening (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function collect(it: AsyncIterable<HostResult>): Promise<HostResult[]> {
  const out: HostResult[] = [];
  for await (const h of it) out.push(h);
  return out;
}

describe("scanner library (loopback)", () => {
  let open: number;
  let talker: number;
  let closed: number;
  let v6: number | undefined;
  before(async () => {
    open = await listen("127.0.0.1");
    talker = await listen("127.0.0.1", (c) => c.write("220 hello\r\n"));
    closed = await closedPort();
    try {
      v6 = await listen("::1");
    } catch {
      v6 = undefined;
    }
  });
  after(() => {
    for (const s of servers) s.close();
  });

  it("reports open and closed ports with their reasons and round trips, and the banner when asked", async () => {
    const run = scan({ targets: ["127.0.0.1"], ports: [open, closed, talker], discovery: "none", bannerMs: 500 });
    const [host, ...rest] = await collect(run);
    assert.equal(rest.length, 0);
    assert.equal(host?.status, "up");
    assert.equal(host?.reason, "user-set");
    assert.deepEqual(
      host?.ports.map((p) => [p.port, p.state, p.reason]),
      [
        [open, "open", "syn-ack"],
        [closed, "closed", "conn-refused"],
        [talker, "open", "syn-ack"],
      ],
    );
    assert.equal(host?.ports[2]?.banner, "220 hello\r\n");
    assert.ok((host?.ports[0]?.rttMs ?? -1) >= 0);
    const s = run.summary();
    assert.deepEqual([s.total, s.done, s.up, s.down, s.open, s.aborted], [1, 1, 1, 0, 2, false]);
    assert.ok(s.peakInFlight >= 1 && s.peakInFlight <= 10);
  });

  it("connect discovery: a host that refuses 80 and 443 is up; its names are kept; IPv6 too", async () => {
    const hosts = await collect(scan({ targets: ["lab.test", ...(v6 ? ["::1"] : [])], ports: [open, ...(v6 ? [v6] : [])], discovery: "connect", resolve: async (n) => (n === "lab.test" ? ["127.0.0.1"] : []) }));
    const v4 = hosts.find((h) => h.address === "127.0.0.1");
    assert.equal(v4?.status, "up");
    assert.ok(v4?.reason === "conn-refused" || v4?.reason === "syn-ack");
    assert.deepEqual(v4?.names, ["lab.test"]);
    assert.equal(v4?.ports.find((p) => p.port === open)?.state, "open");
    if (v6) assert.equal(hosts.find((h) => h.address === "::1")?.ports.find((p) => p.port === v6)?.state, "open");
  });

  it("auto discovery: as root, ICMP echo over a raw socket (no slot); otherwise it says why it fell back", async () => {
    const run = scan({ targets: ["127.0.0.1"], ports: [open] });
    const [host] = await collect(run);
    const s = run.summary();
    assert.equal(host?.ports[0]?.state, "open");
    if (process.getuid?.() === 0) {
      assert.equal(s.discovery, "raw");
      assert.ok(host?.reason === "echo-reply" || host?.reason === "reset", host?.reason);
      assert.equal(s.discoveryNote, undefined);
      if (v6) {
        // IPv6 too: ICMPv6 echo over a raw socket.
        const six = scan({ targets: ["::1"], ports: [v6] });
        const [h6] = await collect(six);
        assert.equal(h6?.ports[0]?.state, "open");
        assert.ok(h6?.reason === "echo-reply" || h6?.reason === "reset", h6?.reason);
        assert.equal(six.summary().discoveryNote, undefined);
      }
    } else {
      assert.ok(s.discovery === "ping-socket" || s.discovery === "connect", s.discovery);
      assert.match(s.discoveryNote ?? "", /no CAP_NET_RAW|no native helper/);
    }
  });

  it("an AbortSignal stops the scan: the iterator ends with the hosts already done", async () => {
    const controller = new AbortController();
    // Every port of 64 loopback addresses, one connect at a time: far longer than the test waits.
    const run = scan({ targets: ["127.0.0.0/26"], ports: "-", discovery: "none", maxHalfOpen: 1, signal: controller.signal, hostWindow: 2 });
    const t0 = Date.now();
    setTimeout(() => controller.abort(), 200);
    const hosts = await collect(run);
    assert.ok(Date.now() - t0 < 10_000);
    const s = run.summary();
    assert.equal(s.aborted, true);
    assert.ok(s.done < s.total, `${s.done} of ${s.total}`);
    assert.equal(hosts.length, s.done);
  });

  it("bad input rejects before any traffic: a bad target, a bad port, a scan too large without allowLarge", async () => {
    await assert.rejects(collect(scan({ targets: ["198.18.0.0/40"] })), (e: unknown) => e instanceof HalfOpenError && e.code === "HALFOPEN_BAD_TARGET");
    assert.throws(() => scan({ targets: ["127.0.0.1"], ports: [0] }), (e: unknown) => e instanceof HalfOpenError && e.code === "HALFOPEN_BAD_TARGET");
    await assert.rejects(collect(scan({ targets: ["198.18.0.0/15"] })), (e: unknown) => e instanceof HalfOpenError && e.code === "HALFOPEN_NEEDS_CONFIRMATION" && /131,072 addresses/.test(e.message));
    await assert.rejects(collect(scan({ targets: ["nowhere.test"], resolve: async () => Promise.reject(Object.assign(new Error("no"), { code: "ENOTFOUND" })) })), /"nowhere\.test": it does not resolve \(ENOTFOUND\)/);
  });

  it("nmap XML escapes what targets control and collapses the port list", () => {
    assert.equal(xmlAttr(`a"<b>&'\x01\x1b`), "a&quot;&lt;b&gt;&amp;&apos;");
    assert.equal(servicesAttr([80, 22, 23, 24, 443, 8000, 8001]), "22-24,80,443,8000-8001");
    const xml = nmapXml({ args: "halfopen scan <x>", version: "halfopen-test", startedAt: 0, endedAt: 1500, ports: [22], up: 1, down: 1, hosts: [{ address: "127.0.0.1", family: 4, status: "up", reason: "syn-ack", names: ['"evil"<name>'], ports: [{ port: 22, state: "open", reason: "syn-ack" }], startedAt: 0, endedAt: 1000 }] });
    assert.match(xml, /args="halfopen scan &lt;x&gt;"/);
    assert.match(xml, /<hostname name="&quot;evil&quot;&lt;name&gt;" type="user"\/>/);
    assert.match(xml, /<hosts up="1" down="1" total="2"\/>/);
  });
});
