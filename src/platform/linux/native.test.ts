/**
 * The native helper against this process's own sockets (no root needed): the
 * sock_diag dump, the owner walk and the off-thread scan name what Node
 * opened, and the procfs reader gives the same rows with and without it.
 * The helper is built by `npm install`; under CI its absence fails the run.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { execFileSync, spawnSync } from "node:child_process";
import { closeSync, constants, mkdtempSync, openSync, readSync, readlinkSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";
import { TcpState } from "../../core/tcp-state.js";
import { ALL_STATES_MASK, BOTH_FAMILIES, AF_INET, parseInetDiag, stateMask } from "./inet-diag.js";
import { listPids, loadNative, nativeUnavailableReason, prefetchSocketScan, prefetchWalked, takeSocketDump, takeSocketScan, WALK_THREADS } from "./native.js";
import { ProcfsReader } from "./procfs-reader.js";

const helper = process.platform === "linux" ? loadNative() : undefined;
const skip = helper ? undefined : `native helper unavailable: ${nativeUnavailableReason() ?? "not Linux"}`;
if (skip) {
  if (process.env.CI && process.platform === "linux" && process.env.HALFOPEN_NATIVE !== "0") {
    throw new Error(`The native helper must build under CI (npm install compiles it): ${skip}`);
  }
  console.log(`# SKIP native helper: ${skip}`);
}

describe("native helper: sock_diag and the fd walk, on this process's sockets", { skip }, () => {
  const native = helper as NonNullable<typeof helper>;
  let server: net.Server;
  let client: net.Socket;
  let port = 0;
  before(async () => {
    server = net.createServer((s) => s.on("error", () => {}));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    port = (server.address() as net.AddressInfo).port;
    client = net.connect(port, "127.0.0.1");
    await once(client, "connect");
  });
  after(() => {
    client.destroy();
    server.close();
  });

  const mine = () => {
    const rows = parseInetDiag(native.sockDiag(BOTH_FAMILIES, ALL_STATES_MASK)).rows;
    const listener = rows.find((r) => r.state === TcpState.LISTEN && r.local.port === port && r.local.address === "127.0.0.1");
    const outbound = rows.find((r) => r.state === TcpState.ESTABLISHED && r.remote.port === port && r.local.port === client.localPort);
    const inbound = rows.find((r) => r.state === TcpState.ESTABLISHED && r.local.port === port && r.remote.port === client.localPort);
    return { rows, listener, outbound, inbound };
  };

  test("a dump of every state has our listener and both ends of our connection, with inodes and our uid", () => {
    const { listener, outbound, inbound } = mine();
    for (const r of [listener, outbound, inbound]) {
      assert.ok(r, "found in the dump");
      assert.ok((r.inode ?? 0) > 0);
      assert.equal(r.uid, process.geteuid?.());
    }
  });

  test("the kernel's state filter: a LISTEN-only dump of IPv4 has the listener and no established socket", () => {
    const rows = parseInetDiag(native.sockDiag(AF_INET, stateMask([TcpState.LISTEN]))).rows;
    assert.ok(rows.some((r) => r.local.port === port));
    assert.ok(rows.every((r) => r.state === TcpState.LISTEN));
  });

  test("socketOwners and scanSockets name this process as the owner of its three sockets", async () => {
    const { listener, outbound, inbound } = mine();
    const inodes = Uint32Array.from([listener?.inode ?? 0, outbound?.inode ?? 0, inbound?.inode ?? 0, 4_000_000_000]);
    const found = native.socketOwners("/proc", Int32Array.from(listPids("/proc")), inodes, WALK_THREADS);
    assert.deepEqual([...found.owners], [process.pid, process.pid, process.pid, 0], "the last inode belongs to nobody");
    assert.ok(found.readlinks > 0 && found.walkedPids > 0);
    const scan = await native.scanSockets("/proc", Int32Array.from([process.pid]), 2);
    const owner = new Map([...scan.inodes].map((inode, i) => [inode, scan.pids[i]]));
    for (const inode of inodes.subarray(0, 3)) assert.equal(owner.get(inode), process.pid);
    assert.deepEqual([...scan.inodes], [...scan.inodes].sort((a, b) => a - b), "one entry per inode, sorted");
  });

  test("bad arguments are TypeErrors; a missing namespace is ENOENT with the path", () => {
    assert.throws(() => native.sockDiag(99, 1), TypeError);
    assert.throws(() => native.socketOwners("/proc", new Int32Array(0), new Int32Array(0) as unknown as Uint32Array, 1), TypeError);
    assert.throws(() => native.sockDiag(BOTH_FAMILIES, 4, "/proc/self/ns/no-such-thing"), (e: NodeJS.ErrnoException) => e.code === "ENOENT" && /no-such-thing/.test(e.message));
  });

  test("the procfs reader gives the same rows and owners through sock_diag as through /proc/net/tcp", async () => {
    const pick = (rows: { key: string; state: number; pid?: number }[]) =>
      rows.filter((r) => r.pid === process.pid).map((r) => `${r.key} ${r.state} ${r.pid}`).sort();
    const viaDiag = new ProcfsReader({ native });
    const viaText = new ProcfsReader({ native: null });
    const a = await viaDiag.read(0, { allStates: true });
    const b = await viaText.read(0, { allStates: true });
    assert.equal(viaDiag.method.startsWith("sock_diag"), true, viaDiag.method);
    assert.equal(viaText.method, "proc_net_tcp");
    assert.ok(pick(a.snapshot.rows).length >= 3);
    assert.deepEqual(pick(a.snapshot.rows), pick(b.snapshot.rows));
    // A second read uses the owners it cached and walks only for new inodes.
    await viaDiag.read(0, { allStates: true });
    assert.ok(viaDiag.lastStats.cached >= 3, JSON.stringify(viaDiag.lastStats));
  });

  test("a socket made after the walk `ls` starts at launch still gets its owner", async () => {
    prefetchSocketScan(ALL_STATES_MASK);
    await prefetchWalked(); // the walk is done: it cannot have seen the next socket
    // Take the early dump away, so the reader dumps after the late socket exists but uses the older walk.
    assert.ok(takeSocketDump("/proc", readlinkSync("/proc/self/ns/net"), ALL_STATES_MASK));
    const late = net.connect(port, "127.0.0.1");
    await once(late, "connect");
    try {
      const reader = new ProcfsReader({ native });
      const read = await reader.read(0, { allStates: true });
      assert.equal(takeSocketScan("/proc"), undefined, "the reader took the prefetched walk");
      const row = read.snapshot.rows.find((r) => r.state === TcpState.ESTABLISHED && r.local.port === late.localPort && r.remote.port === port);
      assert.ok(row, "the late socket is in the table");
      assert.equal(row.pid, process.pid);
    } finally {
      late.destroy();
    }
  });

  test("the reader takes the launch-time dump of its own namespace only when it asks for the same states", async () => {
    const self = readlinkSync("/proc/self/ns/net");
    prefetchSocketScan(stateMask([TcpState.SYN_SENT]));
    await new ProcfsReader({ native }).read(0, { allStates: true });
    assert.ok(takeSocketDump("/proc", self, stateMask([TcpState.SYN_SENT])), "an all-states read leaves a SYN_SENT-only dump alone");
    prefetchSocketScan(ALL_STATES_MASK);
    const read = await new ProcfsReader({ native }).read(0, { allStates: true });
    assert.equal(takeSocketDump("/proc", self, ALL_STATES_MASK), undefined, "taken by the read");
    assert.ok(read.snapshot.rows.some((r) => r.state === TcpState.LISTEN && r.local.port === port && r.pid === process.pid));
  });

  test("a row of a dump serializes like a row of /proc/net/tcp", () => {
    const row = parseInetDiag(native.sockDiag(BOTH_FAMILIES, ALL_STATES_MASK), { netns: 7 }).rows.find((r) => r.state === TcpState.LISTEN && r.local.port === port);
    assert.ok(row);
    const json = JSON.parse(JSON.stringify(row)) as Record<string, unknown>;
    assert.deepEqual(Object.keys(json).sort(), ["family", "inode", "key", "local", "netns", "remote", "retransmits", "state", "uid"]);
    assert.deepEqual(json.local, { address: "127.0.0.1", port });
    assert.equal(json.key, `7:${row.inode}`);
  });
});

describe("native helper: discovery probes to loopback", { skip }, () => {
  const native = helper as NonNullable<typeof helper>;
  const root = process.getuid?.() === 0;
  const options = { icmp: true, ackPorts: [], timeoutMs: 1000, perSecond: 100, sourcePort: 40_000 + (process.pid % 20_000) };
  const v6Loopback = () => {
    const a = new Uint8Array(16);
    a[15] = 1; // ::1
    return a;
  };

  test("IPv4 and IPv6: an ICMP echo to 127.0.0.1 and ::1 is answered (raw as root, else a ping socket where allowed)", async (t) => {
    try {
      const four = await native.discover(Uint32Array.of(0x7f000001), options);
      assert.equal(four.mode, root ? "raw" : "ping-socket");
      assert.deepEqual([...four.replies].slice(0, 2), [0x7f000001, 1]);
      const six = await native.discover6(v6Loopback(), options);
      assert.equal(six.mode, four.mode);
      assert.deepEqual([...six.replies].slice(0, 2), [0, 1], "index 0 (::1), an echo reply");
    } catch (e) {
      if (root || (e as NodeJS.ErrnoException).code !== "EPERM") throw e;
      t.diagnostic(`not root and no ping socket (net.ipv4.ping_group_range): ${(e as Error).message}`);
    }
  });

  test("as root, a stray TCP ACK to ::1 draws a RST (the kernel computes the IPv6 checksum)", { skip: root ? undefined : "needs root (raw sockets)" }, async () => {
    const six = await native.discover6(v6Loopback(), { ...options, icmp: false, ackPorts: [9] });
    assert.equal(six.mode, "raw");
    assert.deepEqual([...six.replies].slice(0, 2), [0, 2]);
  });

  test("refuses addresses of the wrong shape", () => {
    assert.throws(() => native.discover6(Uint8Array.of(1, 2, 3), options), /discover6\(addresses: Uint8Array of 16-byte addresses/);
    assert.throws(() => native.discover6(Uint32Array.of(1) as unknown as Uint8Array, options), /discover6/);
    assert.throws(() => native.discover(Uint8Array.of(1) as unknown as Uint32Array, options), /discover\(addresses: Uint32Array/);
  });
});

describe("native helper: watchReadable (the tracefs reader's wake-up), on a pipe", { skip }, () => {
  const native = helper as NonNullable<typeof helper>;
  const until = async (what: string, ok: () => boolean) => {
    for (let i = 0; i < 400 && !ok(); i++) await new Promise((r) => setTimeout(r, 5));
    assert.ok(ok(), what);
  };

  test("wakes once per arming, on the event loop (microtasks of the callback run), again after rearm while data stays; stop ends it", async () => {
    const [r, w] = pipeFds();
    let calls = 0;
    let microtasks = 0;
    const watcher = native.watchReadable(Int32Array.from([r]), () => {
      calls++;
      void Promise.resolve().then(() => microtasks++);
    });
    try {
      assert.equal(watcher.mode, "event-loop");
      await new Promise((res) => setTimeout(res, 30));
      assert.equal(calls, 0, "nothing to read: no call");
      writeSync(w, "x");
      await until("called once data is there", () => calls === 1);
      assert.equal(microtasks, 1, "its microtasks ran");
      await new Promise((res) => setTimeout(res, 30));
      assert.equal(calls, 1, "not again until rearmed, though the data is still unread");
      watcher.rearm();
      await until("called again after rearm (the byte is still there)", () => calls === 2);
      const buf = Buffer.alloc(16);
      assert.equal(readSync(r, buf), 1);
      assert.equal(buf.toString("latin1", 0, 1), "x");
      watcher.rearm();
      await new Promise((res) => setTimeout(res, 30));
      assert.equal(calls, 2, "drained: no call");
      watcher.stop();
      writeSync(w, "y");
      await new Promise((res) => setTimeout(res, 30));
      assert.equal(calls, 2, "stopped: no call");
    } finally {
      watcher.stop();
      closeSync(r);
      closeSync(w);
    }
  });

  test("pollReadable: which fds have data, in one call; bad arguments are TypeErrors", () => {
    const [r1, w1] = pipeFds();
    const [r2, w2] = pipeFds();
    try {
      const fds = Int32Array.from([r1, r2]);
      const ready = new Uint8Array(2).fill(7);
      assert.equal(native.pollReadable(fds, ready), 0);
      assert.deepEqual([...ready], [0, 0]);
      writeSync(w2, "x");
      assert.equal(native.pollReadable(fds, ready), 1);
      assert.deepEqual([...ready], [0, 1]);
      writeSync(w1, "y");
      assert.equal(native.pollReadable(fds, ready), 2);
      assert.deepEqual([...ready], [1, 1]);
      assert.equal(native.pollReadable(new Int32Array(0), new Uint8Array(0)), 0);
      assert.throws(() => native.pollReadable(fds, new Uint8Array(1)), TypeError);
      assert.throws(() => native.pollReadable([r1] as unknown as Int32Array, ready), TypeError);
    } finally {
      for (const fd of [r1, w1, r2, w2]) closeSync(fd);
    }
  });

  test("a callback that throws is an uncaught exception (the process says so and exits), not a silent stop", () => {
    const dir = mkdtempSync(join(tmpdir(), "halfopen-throw-"));
    try {
      const fifo = join(dir, "fifo");
      execFileSync("mkfifo", [fifo]);
      const script = [
        `import { closeSync, constants, openSync, writeSync } from "node:fs";`,
        `import { loadNative } from ${JSON.stringify(new URL("./native.ts", import.meta.url).pathname)};`,
        `const r = openSync(${JSON.stringify(fifo)}, constants.O_RDONLY | constants.O_NONBLOCK);`,
        `const w = openSync(${JSON.stringify(fifo)}, constants.O_WRONLY | constants.O_NONBLOCK);`,
        `loadNative().watchReadable(Int32Array.from([r]), () => { throw new Error("boom from onReadable"); });`,
        `writeSync(w, "x");`,
        `setTimeout(() => { console.log("still running"); process.exit(0); }, 3000);`,
      ].join("\n");
      const run = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8", timeout: 20_000 });
      assert.notEqual(run.status, 0, `exits with an error: ${run.stdout}`);
      assert.match(run.stderr, /boom from onReadable/);
      assert.doesNotMatch(run.stdout, /still running/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("ownThread: the same contract from a poll thread of its own (for an fd libuv watches too, such as standard output)", async () => {
    const [r, w] = pipeFds();
    let calls = 0;
    const watcher = native.watchReadable(Int32Array.from([r]), () => calls++, true);
    try {
      assert.equal(watcher.mode, undefined, "not on the event loop");
      writeSync(w, "x");
      await until("called once data is there", () => calls === 1);
      await new Promise((res) => setTimeout(res, 30));
      assert.equal(calls, 1, "not again until rearmed");
      watcher.rearm();
      await until("again after rearm", () => calls === 2);
    } finally {
      watcher.stop();
      closeSync(r);
      closeSync(w);
    }
  });
});

/** A FIFO's two non-blocking ends (read, write): Node has no pipe(2). */
function pipeFds(): [number, number] {
  const dir = mkdtempSync(join(tmpdir(), "halfopen-pipe-"));
  const path = join(dir, "fifo");
  execFileSync("mkfifo", [path]);
  const r = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const w = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  rmSync(dir, { recursive: true });
  return [r, w];
}
