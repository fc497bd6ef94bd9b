/**
 * HalfOpenLimiter against loopback servers (no privileges). Attempts that
 * must stay queued are held by taking the budget's slots directly; attempts
 * that must stay half-open need the netns lab (test/integration/limiter.test.ts).
 */
import assert from "node:assert/strict";
import diagnostics_channel from "node:diagnostics_channel";
import { once } from "node:events";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { HalfOpenError } from "../errors.js";
import { HalfOpenBudget, type Lease } from "../core/half-open-budget.js";
import { CHANNEL_NAMES } from "./channels.js";
import { HalfOpenLimiter, sharedBudget } from "./limiter.js";

interface EchoServer {
  port: number;
  accepted: number;
  received: string[];
  close(): Promise<void>;
}

async function echoServer(host = "127.0.0.1"): Promise<EchoServer> {
  const sockets = new Set<net.Socket>();
  const state: EchoServer = {
    port: 0,
    accepted: 0,
    received: [],
    close: async () => {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, "close");
    },
  };
  const server = net.createServer((socket) => {
    state.accepted++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("data", (d) => {
      state.received.push(d.toString());
      socket.write(d);
    });
    socket.on("end", () => socket.end());
    socket.on("error", () => {});
  });
  server.listen(0, host);
  await once(server, "listening");
  state.port = (server.address() as net.AddressInfo).port;
  return state;
}

/** A port nobody listens on: bind, note the port, close. */
async function refusedPort(): Promise<number> {
  const server = net.createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as net.AddressInfo).port;
  server.close();
  await once(server, "close");
  return port;
}

/** Resolves once `pred()` holds, checking every 5 ms; rejects after `ms`. */
async function until(pred: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`Timed out after ${ms} ms waiting for a condition`);
    await sleep(5);
  }
}

/** Take every slot of a budget; returns the leases so the test can free them. */
function holdAll(budget: HalfOpenBudget): Lease[] {
  const held: Lease[] = [];
  for (let i = 0; i < budget.maxHalfOpen; i++) held.push(budget.request({ start: () => {}, reject: () => assert.fail("holder rejected") }));
  return held;
}

/** Wait for the socket's 'close'; call it right after connect(), before 'close' can fire. */
async function settle(socket: net.Socket): Promise<{ connected: boolean; error: (Error & { code?: string }) | undefined }> {
  let connected = false;
  let error: (Error & { code?: string }) | undefined;
  socket.on("connect", () => {
    connected = true;
  });
  socket.on("error", (e) => {
    error = e;
  });
  await new Promise((resolve) => socket.once("close", resolve));
  return { connected, error };
}

describe("HalfOpenLimiter on loopback", () => {
  let server: EchoServer;
  before(async () => {
    server = await echoServer();
  });
  after(async () => {
    await server.close();
  });

  it("returns a socket that connects and carries data written while it was queued", async () => {
    const budget = new HalfOpenBudget({ maxHalfOpen: 1 });
    const limiter = new HalfOpenLimiter({ budget });
    const held = holdAll(budget);
    const socket = limiter.connect({ host: "127.0.0.1", port: server.port });
    assert.ok(socket instanceof net.Socket);
    assert.equal(socket.connecting, true);
    socket.write("hello ");
    socket.end("world");
    await sleep(50);
    assert.equal(budget.queued, 1, "still waiting for a slot");
    held[0]!.release();
    let echoed = "";
    socket.setEncoding("utf8").on("data", (d: string) => (echoed += d));
    await once(socket, "close");
    assert.equal(echoed, "hello world");
    assert.equal(budget.inFlight, 0, "slot released");
  });

  it("keeps at most maxHalfOpen in flight, in FIFO order, and connects them all", async () => {
    const limiter = new HalfOpenLimiter({ maxHalfOpen: 3, name: "fifo" });
    const started: number[] = [];
    let maxInFlight = 0;
    limiter.on("started", (m) => {
      started.push(m.id);
      maxInFlight = Math.max(maxInFlight, m.inFlight);
    });
    const sockets = Array.from({ length: 60 }, () => limiter.connect(server.port, "127.0.0.1"));
    const results = await Promise.all(
      sockets.map(async (s) => {
        await once(s, "connect");
        s.destroy();
        return true;
      }),
    );
    assert.equal(results.length, 60);
    assert.ok(maxInFlight <= 3, `in flight peaked at ${maxInFlight}`);
    assert.deepEqual(started, [...started].sort((a, b) => a - b), "started in request order");
    const stats = limiter.stats();
    assert.equal(stats.established, 60);
    assert.equal(stats.peakInFlight, 3);
    assert.ok(stats.queuedTotal > 0, "some had to queue");
    await sleep(10);
    assert.equal(limiter.stats().inFlight, 0);
  });

  it("releases the slot on a refused connect and reports ECONNREFUSED", async () => {
    const limiter = new HalfOpenLimiter({ maxHalfOpen: 1 });
    const failed: string[] = [];
    limiter.on("failed", (m) => failed.push(`${m.code} ${m.target} started=${String(m.started)}`));
    const port = await refusedPort();
    const first = await settle(limiter.connect({ host: "127.0.0.1", port }));
    const second = await settle(limiter.connect({ host: "127.0.0.1", port: server.port }).on("connect", function (this: net.Socket) {
      this.destroy();
    }));
    assert.equal(first.error?.code, "ECONNREFUSED");
    assert.equal(second.connected, true);
    assert.deepEqual(failed, [`ECONNREFUSED 127.0.0.1:${port} started=true`]);
    assert.deepEqual(limiter.stats().failures, { ECONNREFUSED: 1 });
    assert.equal(limiter.stats().inFlight, 0);
  });

  it("does not count the queue wait against connectTimeoutMs or the idle timeout", async () => {
    const budget = new HalfOpenBudget({ maxHalfOpen: 1 });
    const limiter = new HalfOpenLimiter({ budget, connectTimeoutMs: 50 });
    const held = holdAll(budget);
    const socket = limiter.connect({ host: "127.0.0.1", port: server.port, timeout: 100 });
    let timeouts = 0;
    socket.on("timeout", () => timeouts++);
    socket.setTimeout(100);
    await sleep(300); // six connect timeouts, three idle timeouts
    assert.equal(socket.destroyed, false);
    assert.equal(timeouts, 0);
    held[0]!.release();
    await once(socket, "connect");
    // The idle timeout now runs, from the start.
    await once(socket, "timeout");
    assert.equal(timeouts, 1);
    socket.destroy();
  });

  it("fails a queued attempt with HALFOPEN_ABORTED when its signal fires, and never connects it", async () => {
    const budget = new HalfOpenBudget({ maxHalfOpen: 1 });
    const limiter = new HalfOpenLimiter({ budget });
    const held = holdAll(budget);
    const controller = new AbortController();
    const before = server.accepted;
    const socket = limiter.connect({ host: "127.0.0.1", port: server.port, signal: controller.signal });
    const result = settle(socket);
    await sleep(20);
    controller.abort();
    const { connected, error } = await result;
    assert.equal(connected, false);
    assert.ok(error instanceof HalfOpenError);
    assert.equal(error.code, "HALFOPEN_ABORTED");
    assert.match(error.message, /^Connect attempt to 127\.0\.0\.1:\d+ aborted while queued \(waited \d+ ms\)$/);
    // Positive control: an attempt queued after the aborted one connects once the slot frees. The queue is FIFO,
    // so had the aborted attempt still been queued it would have connected first.
    const control = limiter.connect({ host: "127.0.0.1", port: server.port });
    const controlled = settle(control);
    held[0]!.release();
    await until(() => server.accepted === before + 1);
    control.destroy();
    assert.equal((await controlled).connected, true);
    assert.equal(server.accepted, before + 1, "only the control connected");
    assert.equal(budget.queued, 0);
  });

  it("fails with HALFOPEN_QUEUE_TIMEOUT after maxQueueMs, and HALFOPEN_QUEUE_FULL past maxQueueLength", async () => {
    const limiter = new HalfOpenLimiter({ maxHalfOpen: 1, maxQueueMs: 50, maxQueueLength: 1 });
    const held = holdAll(limiter.budget);
    const waiting = settle(limiter.connect({ host: "127.0.0.1", port: server.port }));
    const full = await settle(limiter.connect({ host: "127.0.0.1", port: server.port }));
    assert.equal(full.error?.code, "HALFOPEN_QUEUE_FULL");
    const timedOut = await waiting;
    assert.equal(timedOut.error?.code, "HALFOPEN_QUEUE_TIMEOUT");
    held[0]!.release();
    assert.deepEqual(limiter.stats().failures, { HALFOPEN_QUEUE_FULL: 1, HALFOPEN_QUEUE_TIMEOUT: 1 });
  });

  it("starts higher priority first", async () => {
    const budget = new HalfOpenBudget({ maxHalfOpen: 1 });
    const limiter = new HalfOpenLimiter({ budget });
    const held = holdAll(budget);
    const order: string[] = [];
    const low = limiter.connect({ host: "127.0.0.1", port: server.port }).on("connect", () => order.push("low"));
    const high = limiter.connect({ host: "127.0.0.1", port: server.port, priority: 1 }).on("connect", () => order.push("high"));
    await sleep(10);
    held[0]!.release();
    await Promise.all([once(low, "connect"), once(high, "connect")]);
    low.destroy();
    high.destroy();
    assert.deepEqual(order, ["high", "low"]);
  });

  it("resolves host names before queueing, so DNS never holds a slot", async () => {
    const budget = new HalfOpenBudget({ maxHalfOpen: 1 });
    const limiter = new HalfOpenLimiter({ budget });
    const held = holdAll(budget);
    const lookups: string[] = [];
    const lookup: net.LookupFunction = (hostname, options, callback) => {
      lookups.push(`${hostname} all=${String(options.all)}`);
      setImmediate(() => (callback as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address: "127.0.0.1", family: 4 }]));
    };
    const socket = limiter.connect({ host: "echo.test", port: server.port, lookup });
    await sleep(20);
    assert.deepEqual(lookups, ["echo.test all=true"], "looked up while queued");
    held[0]!.release();
    await once(socket, "connect");
    assert.equal(socket.remoteAddress, "127.0.0.1");
    assert.equal(lookups.length, 1, "Node reused our answer");
    socket.destroy();
  });

  it("reports a failed lookup without taking a slot", async () => {
    const limiter = new HalfOpenLimiter({ maxHalfOpen: 1 });
    const lookup: net.LookupFunction = (hostname, _options, callback) => {
      const error = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
      setImmediate(() => callback(error, "", 0));
    };
    const { error } = await settle(limiter.connect({ host: "nowhere.test", port: 80, lookup }));
    assert.equal(error?.code, "ENOTFOUND");
    assert.equal(limiter.stats().started, 0);
  });

  it("connects to localhost (both families) through the real resolver", async () => {
    const limiter = new HalfOpenLimiter({ maxHalfOpen: 2 });
    const socket = limiter.connect({ host: "localhost", port: server.port });
    await once(socket, "connect");
    socket.destroy();
    assert.equal(limiter.stats().established, 1);
  });

  it("publishes queued, started, established and one limit-reached per episode on diagnostics_channel", async () => {
    const seen: string[] = [];
    const subscribers = Object.entries(CHANNEL_NAMES).map(([kind, name]) => {
      const fn = (m: unknown) => {
        const msg = m as { limiter: string; id?: number; queued: number };
        if (msg.limiter === "dc-test") seen.push(kind === "limitReached" ? `limit q=${msg.queued}` : `${kind} ${msg.id}`);
      };
      diagnostics_channel.subscribe(name, fn);
      return () => diagnostics_channel.unsubscribe(name, fn);
    });
    try {
      const limiter = new HalfOpenLimiter({ maxHalfOpen: 1, name: "dc-test" });
      const sockets = [1, 2, 3].map(() => limiter.connect({ host: "127.0.0.1", port: server.port }));
      await Promise.all(sockets.map((s) => once(s, "connect")));
      for (const s of sockets) s.destroy();
      const ids = seen.filter((l) => l.startsWith("started")).map((l) => Number(l.split(" ")[1]));
      const [a, b, c] = ids;
      assert.deepEqual(seen, [`started ${a}`, `queued ${b}`, "limit q=1", `queued ${c}`, `established ${a}`, `started ${b}`, `established ${b}`, `started ${c}`, `established ${c}`]);
    } finally {
      for (const unsubscribe of subscribers) unsubscribe();
    }
  });

  it("lets several limiters share one budget", async () => {
    const budget = new HalfOpenBudget({ maxHalfOpen: 2 });
    const a = new HalfOpenLimiter({ budget, name: "a" });
    const b = new HalfOpenLimiter({ budget, name: "b" });
    let peak = 0;
    const track = (m: { inFlight: number }) => (peak = Math.max(peak, m.inFlight));
    a.on("started", track);
    b.on("started", track);
    const sockets = Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).connect({ host: "127.0.0.1", port: server.port }));
    await Promise.all(sockets.map((s) => once(s, "connect")));
    for (const s of sockets) s.destroy();
    assert.ok(peak <= 2);
    assert.equal(a.stats().established + b.stats().established, 20);
    assert.equal(budget.stats().started, 20);
  });

  it("joins the process-wide budget when given no budget options", () => {
    assert.equal(new HalfOpenLimiter().budget, sharedBudget());
    assert.equal(new HalfOpenLimiter({ connectTimeoutMs: 10 }).budget, sharedBudget());
    assert.notEqual(new HalfOpenLimiter({ maxHalfOpen: 4 }).budget, sharedBudget());
    assert.equal(sharedBudget().maxHalfOpen, 10);
  });

  it("rejects bad options and ports at once with HALFOPEN_INVALID_OPTION", () => {
    const limiter = new HalfOpenLimiter({ maxHalfOpen: 1 });
    const invalid = (e: unknown) => e instanceof HalfOpenError && e.code === "HALFOPEN_INVALID_OPTION";
    assert.throws(() => limiter.connect({ host: "127.0.0.1", port: 70000 }), invalid);
    assert.throws(() => limiter.connect({ host: "127.0.0.1", port: -1 }), invalid);
    assert.throws(() => new HalfOpenLimiter({ connectTimeoutMs: 0 }), invalid);
    assert.throws(() => new HalfOpenLimiter({ budget: new HalfOpenBudget(), maxHalfOpen: 3 }), invalid);
    assert.equal(limiter.stats().attempts, 0);
  });
});
