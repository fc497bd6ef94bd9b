// Workload for bench/limiter.ts, one fresh process per measurement. Uses the
// built package (dist/). spec (argv[2], JSON):
//   {"mode": "plain-pool" | "limiter-pool" | "limiter-all", "count": N,
//    "concurrency": N, "host": "127.0.0.1", "port": N, "ports": [a, b]?,
//    "connectTimeoutMs": N?}
// - plain-pool: `concurrency` workers, each net.connect -> next; a connect with
//   no answer after connectTimeoutMs is destroyed (the hand-written anchor).
// - limiter-pool: the same workers, through HalfOpenLimiter(maxHalfOpen = concurrency).
// - limiter-all: all `count` attempts submitted at once to the limiter.
// On connect the socket is reset (resetAndDestroy, as nmap does), so no
// TIME_WAIT piles up. Prints {"elapsedMs","cpuMs","connected","failed","codes"}.
import net from "node:net";
import { HalfOpenLimiter } from "../dist/limiter/index.js";

const spec = JSON.parse(process.argv[2]);
const codes = {};
let connected = 0;
let next = 0;
const portOf = (i) => (spec.ports ? spec.ports[0] + (i % (spec.ports[1] - spec.ports[0] + 1)) : spec.port);
const limiter = spec.mode === "plain-pool" ? undefined : new HalfOpenLimiter({ maxHalfOpen: spec.concurrency, connectTimeoutMs: spec.connectTimeoutMs, maxQueueLength: Infinity });

function attempt(i, done) {
  const options = { host: spec.host, port: portOf(i) };
  const socket = limiter ? limiter.connect(options) : net.connect(options);
  const timer = !limiter && spec.connectTimeoutMs ? setTimeout(() => socket.destroy(Object.assign(new Error("timeout"), { code: "TIMEOUT" })), spec.connectTimeoutMs) : undefined;
  socket.once("connect", () => {
    connected++;
    socket.resetAndDestroy();
  });
  socket.once("error", (e) => {
    codes[e.code] = (codes[e.code] ?? 0) + 1;
  });
  socket.once("close", () => {
    clearTimeout(timer);
    done();
  });
}

const t0 = performance.now();
await new Promise((resolve) => {
  let finished = 0;
  const onDone = () => {
    finished++;
    if (finished === spec.count) resolve();
    else if (spec.mode !== "limiter-all" && next < spec.count) attempt(next++, onDone);
  };
  if (spec.mode === "limiter-all") {
    for (next = 0; next < spec.count; next++) attempt(next, onDone);
  } else {
    for (let w = 0; w < spec.concurrency && next < spec.count; w++) attempt(next++, onDone);
  }
});
const elapsedMs = performance.now() - t0;
const cpu = process.cpuUsage();
const cpuMs = (cpu.user + cpu.system) / 1000;
const failed = spec.count - connected;
process.stdout.write(`${JSON.stringify({ elapsedMs, cpuMs, connected, failed, codes, peakInFlight: limiter?.stats().peakInFlight })}\n`);
