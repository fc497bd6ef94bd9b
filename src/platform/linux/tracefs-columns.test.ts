import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { closeSync, constants, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { IN_INTERRUPT, Ipv4Endpoints, KIND_OTHER, KIND_RESET, KIND_RETRANSMIT, KIND_STATE, RecordColumns, STRIDE, stateDecoderConfig } from "./tracefs-columns.js";
import { type Endpoint, EndpointMemo, keyedEndpoint } from "../../core/endpoint.js";
import { makeRecordDecoder } from "./tracefs-decode.js";
import { decodePage } from "./ring-buffer.js";
import { parseHeaderPage } from "./tracefs-format.js";
import { loadNative, nativeUnavailableReason } from "./native.js";
import { HalfOpenError } from "../../errors.js";
import { allTracefsFormats, fixture, fixtureText } from "../../../test/support/fixtures.js";

describe("RecordColumns: the merge of the per-CPU ring buffers into one stream", () => {
  it("releases in time order up to the watermark; later reads never overtake what was released", () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.integer({ min: 0, max: 1000 }), { maxLength: 30 }), { minLength: 1, maxLength: 4 }), fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 1, maxLength: 6 }), (cpus, marks) => {
        // Each CPU's buffer is in order; reads deliver a prefix of each up to the read's time.
        const buffers = cpus.map((c) => [...c].sort((a, b) => a - b));
        const cols = new RecordColumns<string>(4);
        const out: string[] = [];
        const read = (until: number) => {
          for (const [cpu, b] of buffers.entries()) while (b.length > 0 && (b[0] as number) <= until) cols.push(b.shift() as number, KIND_STATE, cpu, 0, 0, `${cpu}`);
        };
        const visit = (i: number) => out.push(`${cols.ts[i]}/${cols.fields[i * STRIDE + 1]}/${cols.extra.get(i)}`);
        for (const m of [...marks].sort((a, b) => a - b)) {
          read(m);
          cols.release(m, () => false, 0, visit);
        }
        read(Number.POSITIVE_INFINITY);
        cols.release(Number.POSITIVE_INFINITY, () => false, 0, visit);
        const expected = cpus.flatMap((c, cpu) => c.map((t) => ({ t, cpu }))).sort((a, b) => a.t - b.t);
        assert.deepEqual(
          out.map((s) => Number(s.split("/")[0])),
          expected.map((e) => e.t),
          "every record once, in time order",
        );
        // Each record's fields and extra moved with it (the thread column and the extra both say its CPU).
        for (const s of out) {
          const [, tid, extra] = s.split("/");
          assert.equal(tid, extra);
        }
        assert.equal(cols.count, 0);
        assert.equal(cols.extra.size, 0);
      }),
    );
  });

  it("a held record stops the release for at most holdNs past it; the end of the stream releases everything", () => {
    const cols = new RecordColumns<never>();
    cols.push(10, KIND_STATE, 1, 0, 0);
    cols.push(20, KIND_STATE, 2, 0, 0);
    cols.push(30, KIND_STATE, 3, 0, 0);
    const hold = (i: number) => cols.fields[i * STRIDE + 1] === 2;
    const seen: number[] = [];
    const visit = (i: number) => seen.push(cols.ts[i] as number);
    cols.release(40, hold, 50, visit);
    assert.deepEqual(seen, [10], "20 waits: 40 is within 50 of it");
    cols.release(71, hold, 50, visit);
    assert.deepEqual(seen, [10, 20, 30], "no longer than 50");
    cols.push(80, KIND_STATE, 2, 0, 0);
    cols.release(Number.POSITIVE_INFINITY, hold, 50, visit);
    assert.deepEqual(seen, [10, 20, 30, 80]);
  });

  it("grows while records are staged, keeping them", () => {
    const cols = new RecordColumns<number>(2);
    for (let i = 0; i < 100; i++) cols.push(100 - i, KIND_STATE, i, i, i, i % 7 === 0 ? i : undefined);
    assert.ok(cols.capacity >= 100);
    const tids: number[] = [];
    cols.release(50, () => false, 0, (i) => {
      tids.push(cols.fields[i * STRIDE + 1] as number);
      if (tids.at(-1) as number % 7 === 0) assert.equal(cols.extra.get(i), tids.at(-1));
    });
    assert.deepEqual(tids, Array.from({ length: 50 }, (_, k) => 99 - k));
    assert.equal(cols.count, 50);
  });
});

describe("stateDecoderConfig", () => {
  it("takes the offsets from the format files; a field the kernel does not have is a BAD_FORMAT error", () => {
    const all = allTracefsFormats();
    const layout0 = parseHeaderPage(fixtureText("linux/tracefs/header_page"));
    const config = stateDecoderConfig(all, layout0);
    assert.equal(config.length, 40);
    assert.deepEqual([...config.subarray(0, 4)], [layout0.timestampOffset, layout0.commitOffset, layout0.commitSize, layout0.dataOffset]);
    assert.equal(config[7], all.setState.id);
    assert.equal(config[8], all.setState.fields.get("skaddr")?.offset);
    const fields = new Map(all.setState.fields);
    fields.delete("skaddr");
    assert.throws(
      () => stateDecoderConfig({ ...all, setState: { ...all.setState, fields } }, layout0),
      (e: unknown) => e instanceof HalfOpenError && e.code === "HALFOPEN_BAD_FORMAT" && /skaddr/.test(e.message),
    );
    const { receiveReset: _r, retransmit: _t, ...onlyState } = all;
    assert.deepEqual([config[31] !== -1, stateDecoderConfig(onlyState, layout0)[31]], [true, -1], "no reset event: id -1");
  });
});

const native = process.platform === "linux" ? loadNative() : undefined;
const skip = native ? undefined : `native helper unavailable: ${nativeUnavailableReason() ?? "not Linux"}`;
if (skip) {
  if (process.env.CI) throw new Error(`The native helper must build under CI: ${skip}`);
  console.log(`# SKIP native state decoder: ${skip}`);
}

const layout = parseHeaderPage(fixtureText("linux/tracefs/header_page"));
const formats = allTracefsFormats();
const PAGE = layout.dataOffset + layout.dataSize;

/** Decode pages with the helper into fresh columns. */
function nativeDecode(decoder: ReturnType<NonNullable<typeof native>["createStateDecoder"]>, pages: Buffer[]) {
  const buf = Buffer.alloc(PAGE * pages.length);
  pages.forEach((p, i) => p.copy(buf, i * PAGE));
  const cap = pages.length * (PAGE / 8);
  const ts = new Float64Array(cap);
  const fields = new Int32Array(cap * STRIDE);
  const meta = new Int32Array(4);
  decoder.decode(buf, Int32Array.from(pages.map((p) => p.length)), PAGE, ts, fields, meta);
  return { buf, ts, fields, meta };
}

const setState = formats.setState;
const off = (n: string) => (setState.fields.get(n) as { offset: number }).offset;
const RECORD = 72;
/** Pages of set_state records [socket number, old state, new state] at `sec` seconds (each page's base time), full but the last. */
const pages = (sec: number, records: [number, number, number][]) => {
  const out: Buffer[] = [];
  const perPage = Math.floor(layout.dataSize / (4 + RECORD));
  for (let p = 0; p < records.length; p += perPage) {
    const chunk = records.slice(p, p + perPage);
    const b = Buffer.alloc(PAGE);
    b.writeBigUInt64LE(BigInt(sec) * 1_000_000_000n, layout.timestampOffset);
    b.writeBigUInt64LE(BigInt(chunk.length * (4 + RECORD)), layout.commitOffset);
    let at = layout.dataOffset;
    for (const [sk, old, next] of chunk) {
      b.writeUInt32LE(RECORD / 4, at); // type_len 18, time delta 0
      const payload = at + 4;
      b.writeUInt16LE(setState.id, payload + off("common_type"));
      b.writeInt32LE(4242, payload + off("common_pid"));
      b.writeBigUInt64LE(0xffff888000000000n + BigInt(sk) * 0x900n, payload + off("skaddr"));
      b.writeInt32LE(old, payload + off("oldstate"));
      b.writeInt32LE(next, payload + off("newstate"));
      b.writeUInt16LE(2, payload + off("family"));
      at = payload + RECORD;
    }
    out.push(b);
  }
  return out;
};

describe("native state decoder (createStateDecoder)", { skip }, () => {
  it("decodes the captured page to what the JavaScript decoder makes of it, socket addresses as ids", () => {
    const h = native as NonNullable<typeof native>;
    const page = fixture("linux/tracefs/cpu1-page0.bin");
    const objects = makeRecordDecoder(formats);
    const expected = decodePage(page, layout).records.map((r) => objects(page, r.offset, r.timestampNs));
    const { buf, ts, fields, meta } = nativeDecode(h.createStateDecoder(stateDecoderConfig(formats, layout)), [page]);
    assert.equal(meta[0], expected.length);
    assert.equal(meta[2], 0, "no events lost");
    const idOf = new Map<string, number>();
    for (const [i, rec] of expected.entries()) {
      assert.ok(rec);
      const f = fields.subarray(i * STRIDE, i * STRIDE + STRIDE);
      assert.equal(ts[i], rec.timestampNs);
      // The payload offset lets the caller decode the same record itself.
      assert.deepEqual(objects(buf, f[7] as number, ts[i] as number), rec);
      const kind = (f[0] as number) & 0xff;
      if (rec.kind === "state") {
        assert.equal(kind, KIND_STATE);
        assert.equal(f[1], rec.tid);
        assert.equal(((f[0] as number) & IN_INTERRUPT) !== 0, rec.inInterrupt);
        assert.deepEqual([(f[3] as number) & 0xff, ((f[3] as number) >>> 8) & 0xff, (f[3] as number) >>> 16], [rec.oldState, rec.newState, rec.family]);
        assert.deepEqual([(f[4] as number) & 0xffff, (f[4] as number) >>> 16], [rec.sport, rec.dport]);
        if (rec.family === 4) {
          const ip = (v: number) => `${v & 255}.${(v >>> 8) & 255}.${(v >>> 16) & 255}.${v >>> 24}`;
          assert.deepEqual([ip(f[5] as number), ip(f[6] as number)], [rec.saddr, rec.daddr]);
        }
      } else if (rec.kind === "reset") assert.equal(kind, KIND_RESET);
      else if (rec.kind === "retransmit") {
        assert.equal(kind, KIND_RETRANSMIT);
        assert.equal(f[3], rec.state);
      } else assert.equal(kind, KIND_OTHER);
      if (rec.kind === "state" || rec.kind === "reset" || rec.kind === "retransmit") {
        // One id per socket address and one address per id.
        const id = f[2] as number;
        assert.ok(id > 0);
        const known = idOf.get(rec.sock);
        if (known === undefined) {
          assert.ok(![...idOf.values()].includes(id), `id ${id} given to two sockets`);
          idOf.set(rec.sock, id);
        } else assert.equal(id, known);
      }
    }
    assert.equal(idOf.size, 4, "the capture's four sockets");
  });

  it("read: every page a non-blocking fd has, decoded; EAGAIN ends the fd; no room for a page stops before reading it", () => {
    const h = native as NonNullable<typeof native>;
    const page = fixture("linux/tracefs/cpu1-page0.bin");
    const expected = nativeDecode(h.createStateDecoder(stateDecoderConfig(formats, layout)), [page]);
    const dir = mkdtempSync(join(tmpdir(), "halfopen-pages-"));
    execFileSync("mkfifo", [join(dir, "fifo")]);
    const r = openSync(join(dir, "fifo"), constants.O_RDONLY | constants.O_NONBLOCK);
    const w = openSync(join(dir, "fifo"), constants.O_WRONLY | constants.O_NONBLOCK);
    rmSync(dir, { recursive: true });
    try {
      const decoder = h.createStateDecoder(stateDecoderConfig(formats, layout));
      const fds = Int32Array.from([r]);
      const buf = Buffer.alloc(PAGE * 8);
      const meta = new Int32Array(4);
      writeSync(w, page);
      decoder.read(fds, buf, PAGE, 2, new Float64Array(PAGE / 8 - 1), new Int32Array(PAGE), meta);
      assert.deepEqual([...meta], [0, 0, 0, 1], "columns without room for a page: stopped, nothing read");
      const ts = new Float64Array(PAGE / 4);
      const fields = new Int32Array((PAGE / 4) * STRIDE);
      decoder.read(fds, buf, PAGE, 2, ts, fields, meta);
      assert.deepEqual([...meta], [11, 1, 0, 0], "the page, then EAGAIN without an exception");
      assert.deepEqual([...ts.subarray(0, 11)], [...expected.ts.subarray(0, 11)]);
      assert.deepEqual([...fields.subarray(0, 11 * STRIDE)], [...expected.fields.subarray(0, 11 * STRIDE)]);
      decoder.read(fds, buf, PAGE, 2, ts, fields, meta);
      assert.deepEqual([...meta], [0, 0, 0, 0], "empty: nothing");
      // Short (the rest of a page read in part), full, then short pages (the capture's): the read stops at the second
      // short page in a row, the one being written.
      const full = pages(1, Array.from({ length: 53 }, (_, k): [number, number, number] => [k, 7, 2]));
      assert.equal(full.length, 1);
      for (const p of [page, full[0] as Buffer, page, page, page]) writeSync(w, p);
      decoder.read(fds, buf, PAGE, 8, ts, fields, meta);
      assert.deepEqual([...meta], [11 + 53 + 11 + 11, 4, 0, 0], "up to the second short page in a row, not the fifth");
      decoder.read(fds, buf, PAGE, 8, ts, fields, meta);
      assert.deepEqual([...meta], [11, 1, 0, 0], "the fifth on the next read");
      assert.throws(() => decoder.read(fds, Buffer.alloc(10), PAGE, 2, ts, fields, meta), /read: buf must hold/);
    } finally {
      closeSync(r);
      closeSync(w);
    }
  });

  it("read with `ready` (pollReadable's answer): only the fds it marks are read", () => {
    const h = native as NonNullable<typeof native>;
    const page = fixture("linux/tracefs/cpu1-page0.bin");
    const dir = mkdtempSync(join(tmpdir(), "halfopen-pages-"));
    const ends = ["a", "b"].map((name) => {
      execFileSync("mkfifo", [join(dir, name)]);
      const r = openSync(join(dir, name), constants.O_RDONLY | constants.O_NONBLOCK);
      return { r, w: openSync(join(dir, name), constants.O_WRONLY | constants.O_NONBLOCK) };
    });
    rmSync(dir, { recursive: true });
    try {
      const decoder = h.createStateDecoder(stateDecoderConfig(formats, layout));
      const fds = Int32Array.from(ends.map((e) => e.r));
      const buf = Buffer.alloc(PAGE * 8);
      const meta = new Int32Array(4);
      const ts = new Float64Array(PAGE / 4);
      const fields = new Int32Array((PAGE / 4) * STRIDE);
      writeSync(ends[1]!.w, page);
      const ready = new Uint8Array(2);
      assert.equal(h.pollReadable(fds, ready), 1);
      assert.deepEqual([...ready], [0, 1]);
      writeSync(ends[0]!.w, page); // data after the poll: not read until a poll says so
      decoder.read(fds, buf, PAGE, 2, ts, fields, meta, ready);
      assert.deepEqual([...meta], [11, 1, 0, 0], "the ready fd's page only");
      assert.equal(h.pollReadable(fds, ready), 1);
      assert.deepEqual([...ready], [1, 0]);
      decoder.read(fds, buf, PAGE, 2, ts, fields, meta, ready);
      assert.deepEqual([...meta], [11, 1, 0, 0], "then the other's");
      assert.throws(() => decoder.read(fds, buf, PAGE, 2, ts, fields, meta, new Uint8Array(1)), /read: ready must be a Uint8Array/);
    } finally {
      for (const e of ends) {
        closeSync(e.r);
        closeSync(e.w);
      }
    }
  });

  it("a malformed page throws EBADPAGE; a page after lost events says so", () => {
    const h = native as NonNullable<typeof native>;
    const decoder = h.createStateDecoder(stateDecoderConfig(formats, layout));
    const bad = Buffer.alloc(PAGE);
    bad.writeBigUInt64LE(8n, 8); // 8 bytes of data: one header claiming 5 words
    bad.writeUInt32LE(5, 16);
    assert.throws(() => nativeDecode(decoder, [bad]), (e: NodeJS.ErrnoException) => e.code === "EBADPAGE");
    const lost = Buffer.alloc(PAGE);
    lost.writeBigUInt64LE(BigInt(2 ** 31), 8);
    assert.equal(nativeDecode(decoder, [lost]).meta[2], 1);
    assert.throws(() => h.createStateDecoder(new Int32Array(3)), /createStateDecoder/);
  });

  it("socket ids: stable while a socket may matter, reused only from sockets out of SYN_SENT for 10 s", () => {
    const h = native as NonNullable<typeof native>;
    const decoder = h.createStateDecoder(stateDecoderConfig(formats, layout));
    const ids = (sec: number, records: [number, number, number][]) => {
      const ps = pages(sec, records);
      const { fields, meta } = nativeDecode(decoder, ps);
      assert.equal(meta[0], records.length);
      return records.map((_, i) => fields[i * STRIDE + 2] as number);
    };
    const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
    const CLOSE = 7;
    const SYN_SENT = 2;
    // 3,000 sockets connect at 1 s; the first 1,500 leave SYN_SENT at 2 s.
    const first = ids(1, range(0, 3000).map((k) => [k, CLOSE, SYN_SENT]));
    assert.equal(new Set(first).size, 3000, "one id per socket");
    assert.deepEqual(ids(2, range(0, 1500).map((k) => [k, SYN_SENT, CLOSE])), first.slice(0, 1500), "the same socket, the same id");
    // At 20 s, 3,000 new sockets: the table fills, and only the 1,500 that left 18 s ago give up their ids.
    const later = ids(20, range(10_000, 3000).map((k) => [k, CLOSE, SYN_SENT]));
    assert.equal(new Set(later).size, 3000);
    const live = new Set(first.slice(1500));
    assert.ok(later.every((id) => !live.has(id)), "no id of a socket still in SYN_SENT is given to another");
    const reused = later.filter((id) => first.slice(0, 1500).includes(id)).length;
    assert.ok(reused > 0, "ids of sockets gone 10 s are reused");
    assert.ok(decoder.ids() <= 4500, `evicted: ${decoder.ids()} ids held`);
    // The sockets still half-open keep their ids when they finally leave, and so do the new ones.
    assert.deepEqual(ids(21, range(1500, 1500).map((k) => [k, SYN_SENT, CLOSE])), first.slice(1500));
    assert.deepEqual(ids(21, range(10_000, 3000).map((k) => [k, SYN_SENT, CLOSE])), later);
  });
});

describe("Ipv4Endpoints (a direct-mapped cache of endpoints by address bits and port)", () => {
  const ipv4 = (bits: number) => `${bits & 0xff}.${(bits >>> 8) & 0xff}.${(bits >>> 16) & 0xff}.${bits >>> 24}`;

  it("answers the memo's own endpoint for any address and port, whatever shares its slot", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(0x010012c6, 0x020012c6, -0x3f57ff40, 0x0100007f), fc.integer({ min: 0, max: 65535 })), { maxLength: 300 }), fc.constantFrom(1, 16, 4096), (asks, slots) => {
        const memo = new EndpointMemo<Endpoint>(keyedEndpoint);
        const cache = new Ipv4Endpoints((bits, port) => memo.get(ipv4(bits), port), slots);
        for (const [bits, port] of asks) {
          const e = cache.get(bits, port);
          assert.equal(e, memo.get(ipv4(bits), port));
          assert.deepEqual(e, { address: ipv4(bits), port });
        }
      }),
    );
  });

  it("with 65,536 slots every port of one address keeps its own: a second pass over all of them makes nothing", () => {
    let made = 0;
    const cache = new Ipv4Endpoints((bits, port) => {
      made++;
      return { address: ipv4(bits), port };
    }, 65_536);
    for (let port = 0; port < 65_536; port++) cache.get(0x010012c6, port);
    assert.equal(made, 65_536);
    for (let port = 0; port < 65_536; port++) assert.equal(cache.get(0x010012c6, port).port, port);
    assert.equal(made, 65_536);
    assert.throws(() => new Ipv4Endpoints(() => ({ address: "", port: 0 }), 1000), RangeError);
  });
});
