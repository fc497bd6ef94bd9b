import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { ConnectionEvent, ConnectEvent } from "../../core/events.js";
import type { CapturedPacket } from "./raw-capture.js";
import { RawJoin } from "./raw-join.js";

const NS = 4026532237;
const holder = (pid: number, via: "raw" | "packet" = "raw", netns = NS) => ({ process: { pid, name: `p${pid}` }, netns, via });
const syn = (timeNs: number, cpu: number, daddr: string, sport = 40000, dport = 80): CapturedPacket => ({
  timeNs,
  cpu,
  ifindex: 2,
  outgoing: true,
  family: 4,
  saddr: "198.18.1.1",
  daddr,
  sport,
  dport,
  flags: 0x02,
  length: 44,
});
const reply = (to: CapturedPacket, timeNs: number, flags: number): CapturedPacket => ({ ...to, timeNs, outgoing: false, saddr: to.daddr, daddr: to.saddr, sport: to.dport, dport: to.sport, flags });
const connects = (events: ConnectionEvent[]) => events.filter((e): e is ConnectEvent => e.type === "connect");

describe("RawJoin (who sent each SYN without connect())", () => {
  it("gives each SYN to the holder whose send on the same CPU follows it, two senders at once", () => {
    const j = new RawJoin();
    j.addHolder(holder(100, "packet"));
    j.addHolder(holder(200, "raw"));
    j.addThread(201, 200);
    // Interleaved in time, on two CPUs: 100 on cpu 0, 200's thread 201 on cpu 1.
    for (let i = 0; i < 50; i++) {
      const t = 1e9 + i * 20_000;
      j.packets(NS, [syn(t, 0, `198.18.2.${i}`), syn(t + 5_000, 1, `198.18.3.${i}`)]);
      j.send({ timeNs: t + 3_000, cpu: 0, tid: 100 });
      j.send({ timeNs: t + 8_000, cpu: 1, tid: 201 });
    }
    const out = connects(j.release(2e9, 2e9));
    assert.equal(out.length, 100);
    assert.ok(out.filter((e) => e.pid === 100).every((e) => e.dst.address.startsWith("198.18.2.") && e.via === "packet"));
    assert.ok(out.filter((e) => e.pid === 200).every((e) => e.dst.address.startsWith("198.18.3.") && e.via === "raw"));
    assert.deepEqual(j.stats().map((s) => [s.pid, s.syns, s.inferred]).sort(), [[100, 50, 0], [200, 50, 0]]);
  });

  it("a send outside the window, in another namespace or of an unknown thread claims nothing", () => {
    const j = new RawJoin({ windowNs: 1e6 });
    j.addHolder(holder(100));
    j.addHolder(holder(300, "raw", 999));
    j.send({ timeNs: 1e9 + 20e6, cpu: 0, tid: 100 }); // 20 ms later: too late, even for a preempted sender
    j.send({ timeNs: 1e9 + 1000, cpu: 0, tid: 300 }); // other namespace
    j.send({ timeNs: 1e9 + 2000, cpu: 0, tid: 555 }); // not a holder's thread
    j.packets(NS, [syn(1e9, 0, "198.18.2.1")]);
    assert.deepEqual(connects(j.release(3e9, 3e9)), []);
    assert.deepEqual(j.takeUnattributed(), [{ netns: NS, count: 1, candidates: [100] }]);
    assert.deepEqual(j.takeUnattributed(), [], "taken once");
  });

  it("a sender preempted between the tap and its send's return (a busy host): its send later than the window, or on another CPU, claims the SYN when that holder alone sent then", () => {
    const one = new RawJoin({ windowNs: 1e6 });
    one.addHolder(holder(100));
    one.packets(NS, [syn(1e9, 0, "198.18.2.1"), syn(1.1e9, 0, "198.18.2.2")]);
    one.send({ timeNs: 1e9 + 3e6, cpu: 0, tid: 100 }); // returned 3 ms after the tap, same CPU
    one.send({ timeNs: 1.1e9 + 2e6, cpu: 1, tid: 100 }); // migrated: returned on CPU 1
    assert.deepEqual(connects(one.release(3e9, 3e9)).map((e) => [e.pid, e.dst.address]), [[100, "198.18.2.1"], [100, "198.18.2.2"]]);
    assert.deepEqual(one.stats().map((s) => [s.pid, s.syns, s.inferred]), [[100, 2, 0]]);
    assert.deepEqual(one.takeUnattributed(), []);
    // Two holders there sent within 10 ms: no telling which; unattributed, as before.
    const two = new RawJoin({ windowNs: 1e6 });
    two.addHolder(holder(100));
    two.addHolder(holder(200));
    two.packets(NS, [syn(1e9, 0, "198.18.2.1")]);
    two.send({ timeNs: 1e9 + 3e6, cpu: 1, tid: 100 });
    two.send({ timeNs: 1e9 - 4e6, cpu: 1, tid: 200 });
    assert.deepEqual(connects(two.release(3e9, 3e9)), []);
    assert.deepEqual(two.takeUnattributed(), [{ netns: NS, count: 1, candidates: [100, 200] }]);
    // A holder in its untraced first moments: another holder's send nearby does not claim the SYN (it may be the new one's).
    const fresh = new RawJoin({ windowNs: 1e6 });
    fresh.addHolder(holder(100));
    fresh.addHolder(holder(200));
    fresh.inferable = (pid) => pid === 200;
    fresh.packets(NS, [syn(1e9, 0, "198.18.2.1")]);
    fresh.send({ timeNs: 1e9 + 3e6, cpu: 1, tid: 100 });
    assert.deepEqual(connects(fresh.release(3e9, 3e9)).map((e) => e.pid), [200], "the single-new-holder rule, inferred");
  });

  it("skips the kernel's own SYNs: a connect() in progress (or just ended) to that address and port", () => {
    const j = new RawJoin();
    j.addHolder(holder(100));
    j.kernelConnect(NS, "198.18.2.9", 443);
    j.send({ timeNs: 1e9 + 1000, cpu: 0, tid: 100 });
    j.packets(NS, [syn(1e9, 0, "198.18.2.9", 50000, 443), syn(1e9 + 500, 0, "198.18.2.9", 50001, 444)]);
    assert.deepEqual(connects(j.release(2e9, 2e9)).map((e) => e.dst.port), [444]);
    j.kernelLeave(NS, "198.18.2.9", 443, 2e9);
    j.send({ timeNs: 2.1e9 + 1000, cpu: 0, tid: 100 });
    j.packets(NS, [syn(2.1e9, 0, "198.18.2.9", 50000, 443)]);
    assert.deepEqual(connects(j.release(2.5e9, 2.5e9)), [], "a retransmission of an attempt that just ended");
  });

  it("a kernel connect hides raw SYNs to its destination in its own namespace only; one of unknown namespace in all", () => {
    const OTHER = NS + 1;
    const j = new RawJoin();
    j.addHolder(holder(100));
    // A connect() to 198.18.2.9:443 in progress in another namespace (a container), and one to :444 here.
    j.kernelConnect(OTHER, "198.18.2.9", 443);
    j.kernelConnect(NS, "198.18.2.9", 444);
    j.send({ timeNs: 1e9 + 1000, cpu: 0, tid: 100 });
    j.send({ timeNs: 1e9 + 3000, cpu: 0, tid: 100 });
    j.packets(NS, [syn(1e9, 0, "198.18.2.9", 50000, 443), syn(1e9 + 2000, 0, "198.18.2.9", 50001, 444)]);
    assert.deepEqual(connects(j.release(2e9, 2e9)).map((e) => [e.pid, e.dst.port]), [[100, 443]], "the other namespace's connect hides nothing here");
    // A connect whose process's namespace could not be read: its SYN may be any namespace's, so it hides the raw one.
    j.kernelConnect(undefined, "198.18.2.10", 443);
    j.send({ timeNs: 2.1e9 + 1000, cpu: 0, tid: 100 });
    j.packets(NS, [syn(2.1e9, 0, "198.18.2.10", 50002, 443)]);
    assert.deepEqual(connects(j.release(2.5e9, 2.5e9)), []);
    j.kernelLeave(OTHER, "198.18.2.9", 443, 2.5e9);
    j.kernelLeave(NS, "198.18.2.9", 444, 2.5e9);
    j.kernelLeave(undefined, "198.18.2.10", 443, 2.5e9);
    j.kernelLeave(NS, "198.18.2.11", 1, 5e9); // prunes what ended over a second ago
    assert.equal(j.kernelDestinations, 1);
  });

  it("keeps a kernel destination only while a connect to it is in progress or ended within a second, with no raw sender around", () => {
    const j = new RawJoin();
    // A connect scan of 20,000 ports over 10 s, each attempt ending 300 ms after it began; one attempt never ends.
    j.kernelConnect(NS, "198.18.3.1", 1);
    for (let i = 0; i < 20_000; i++) {
      const t = 1e9 + i * 5e5;
      j.kernelConnect(NS, "198.18.3.2", 1000 + i);
      if (i >= 600) j.kernelLeave(NS, "198.18.3.2", 1000 + i - 600, t);
    }
    // In progress: 600; ended within the last second (plus up to the second between prunes): at most 4,000 more.
    assert.ok(j.kernelDestinations >= 601 && j.kernelDestinations <= 601 + 4000, `${j.kernelDestinations} destinations kept`);
    j.send({ timeNs: 11e9 + 1000, cpu: 0, tid: 100 });
    j.addHolder(holder(100));
    j.packets(NS, [syn(11e9, 0, "198.18.3.1", 50000, 1)]);
    assert.deepEqual(connects(j.release(12e9, 12e9)), [], "the connect still in progress is still known");
  });

  it("the single-holder rule: only in a holder's untraced moments, and only when it is the only one then", () => {
    const j = new RawJoin();
    j.addHolder(holder(100));
    j.addHolder(holder(200));
    j.inferable = (pid, t) => pid === 200 && t < 1.5e9;
    j.packets(NS, [syn(1e9, 0, "198.18.2.1"), syn(1.6e9, 0, "198.18.2.2")]);
    const out = connects(j.release(2e9, 2e9));
    assert.deepEqual(out.map((e) => [e.pid, e.dst.address]), [[200, "198.18.2.1"]]);
    assert.deepEqual(j.stats().map((s) => [s.pid, s.inferred]), [[200, 1]]);
    assert.deepEqual(j.takeUnattributed(), [{ netns: NS, count: 1, candidates: [100, 200] }]);
    j.inferable = () => true;
    j.packets(NS, [syn(2.1e9, 0, "198.18.2.3")]);
    assert.deepEqual(connects(j.release(3e9, 3e9)), [], "two could have sent it: nobody gets it");
  });

  it("ends attempts: SYN+ACK established, RST refused, silence a timeout after answerMs; the same 4-tuple again is a retransmission", () => {
    const j = new RawJoin({ answerMs: 3000 });
    j.addHolder(holder(100, "packet"));
    const a = syn(1e9, 0, "198.18.2.1", 40000, 22);
    const b = syn(1e9 + 10_000, 0, "198.18.2.1", 40000, 23);
    const c = syn(1e9 + 20_000, 0, "198.18.2.1", 40000, 24);
    for (const p of [a, b, c]) j.send({ timeNs: p.timeNs + 100, cpu: 0, tid: 100 });
    j.packets(NS, [a, b, c, reply(a, 1.001e9, 0x12), reply(b, 1.002e9, 0x14)]);
    const first = j.release(2e9, 2e9);
    const sockOf = (p: CapturedPacket) => connects(first).find((e) => e.dst.port === p.dport)?.sock;
    assert.deepEqual(
      first.filter((e) => e.type === "leave" || e.type === "reset").map((e) => [e.type, e.sock, e.type === "leave" ? e.newState : undefined]),
      [["leave", sockOf(a), 1], ["reset", sockOf(b), undefined], ["leave", sockOf(b), 7]],
    );
    // c is resent at 1.5 s (nmap does), then nothing comes back.
    const again = { ...c, timeNs: 1.5e9 };
    j.send({ timeNs: again.timeNs + 100, cpu: 0, tid: 100 });
    j.packets(NS, [again]);
    assert.deepEqual(j.release(3e9, 3e9).map((e) => e.type), ["retransmit"]);
    const timeout = j.release(4.1e9, 4.1e9);
    assert.deepEqual(timeout, [{ type: "leave", time: (c.timeNs + 3e9) / 1e6, sock: sockOf(c), newState: 7, inInterrupt: true }]);
    assert.equal(j.pending, 0);
    assert.deepEqual(j.stats(), [{ pid: 100, name: "p100", via: "packet", syns: 4, inferred: 0 }]);
  });

  it("bounds what it keeps: past maxPending the oldest attempt ends as unknown", () => {
    const j = new RawJoin({ maxPending: 3 });
    j.addHolder(holder(100));
    for (let i = 0; i < 5; i++) {
      j.packets(NS, [syn(1e9 + i * 1000, 0, `198.18.2.${i}`)]);
      j.send({ timeNs: 1e9 + i * 1000 + 10, cpu: 0, tid: 100 });
    }
    const out = j.release(2e9, 2e9);
    assert.equal(connects(out).length, 5);
    assert.equal(out.filter((e) => e.type === "leave" && e.vanished).length, 2);
    assert.equal(j.pending, 3);
  });

  it("whatever the interleaving of senders, CPUs and read order, every SYN goes to its sender and no other", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ sender: fc.integer({ min: 0, max: 3 }), cpu: fc.integer({ min: 0, max: 3 }), gap: fc.integer({ min: 1_000, max: 50_000 }), lag: fc.integer({ min: 0, max: 900 }) }), { minLength: 1, maxLength: 200 }),
        fc.integer({ min: 1, max: 5 }),
        (sends, reads) => {
          const j = new RawJoin();
          for (let s = 0; s < 4; s++) j.addHolder(holder(1000 + s, s % 2 ? "raw" : "packet"));
          // One CPU runs one send at a time: times on a CPU increase.
          const cpuTime = [1e9, 1e9, 1e9, 1e9];
          const truth = new Map<string, number>();
          const packets: CapturedPacket[] = [];
          const events: { timeNs: number; cpu: number; tid: number }[] = [];
          sends.forEach((s, i) => {
            const t = (cpuTime[s.cpu] as number) + s.gap;
            cpuTime[s.cpu] = t + s.lag + 1;
            const p = syn(t, s.cpu, `198.18.${4 + (i >> 8)}.${i & 255}`, 30000 + i);
            packets.push(p);
            events.push({ timeNs: t + s.lag, cpu: s.cpu, tid: 1000 + s.sender });
            truth.set(`${p.daddr}:${p.sport}`, 1000 + s.sender);
          });
          // Delivered in several reads, each stream in its own order.
          const out: ConnectionEvent[] = [];
          const chunk = Math.ceil(sends.length / reads);
          for (let r = 0; r < reads; r++) {
            for (const e of events.slice(r * chunk, (r + 1) * chunk)) j.send(e);
            j.packets(NS, packets.slice(r * chunk, (r + 1) * chunk));
          }
          out.push(...j.release(Number.POSITIVE_INFINITY, 0));
          const got = connects(out);
          assert.equal(got.length, sends.length);
          for (const e of got) assert.equal(e.pid, truth.get(`${e.dst.address}:${e.src.port}`));
        },
      ),
    );
  });
});
