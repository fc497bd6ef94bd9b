// Workload for bench/simulate.ts: a connect scan in the netns lab, one fresh
// process per run, through the built package (dist/). spec (argv[2], JSON):
//   {"mode": "limiter" | "pool", "host": "198.18.0.1", "ports": [p, ...],
//    "threads": N?, "maxHalfOpen": N?, "releasePerSecond": R?, "timeoutMs": T}
// - limiter: HalfOpenLimiter({maxHalfOpen, releasePerSecond, connectTimeoutMs: T});
//   with `threads`, that many workers each submit the next target when theirs
//   ends; without, every target is submitted at once.
// - pool: `threads` workers with plain net.connect and their own T timer from
//   connect() (a naive scanner, no limit).
// A port that answers (RST from port 7) counts as found. Prints
// {"elapsedMs", "found", "timedOut", "other", "rttMs"}: rttMs is the median
// time to an answer, measured before the run on 50 connects.
import net from "node:net";
import { HalfOpenLimiter } from "../dist/limiter/index.js";

const spec = JSON.parse(process.argv[2]);
const answerPort = spec.ports.find((p) => p < 10000) ?? 7;

/** One connect; resolves "found" (answered: refused or accepted), "timeout" or the error code. */
function attempt(limiter, port) {
  return new Promise((resolve) => {
    const options = { host: spec.host, port };
    const socket = limiter ? limiter.connect(options) : net.connect(options);
    let outcome;
    const timer = limiter ? undefined : setTimeout(() => socket.destroy(Object.assign(new Error("timeout"), { code: "TIMEOUT" })), spec.timeoutMs);
    socket.once("connect", () => {
      outcome = "found";
      socket.resetAndDestroy();
    });
    socket.once("error", (e) => {
      outcome ??= e.code === "ECONNREFUSED" ? "found" : e.code === "TIMEOUT" || e.code === "HALFOPEN_CONNECT_TIMEOUT" ? "timeout" : e.code;
    });
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(outcome ?? "closed");
    });
  });
}

// The round-trip time to an answering port, as the simulator's --rtt.
const rtts = [];
for (let i = 0; i < 50; i++) {
  const t = performance.now();
  await attempt(undefined, answerPort);
  rtts.push(performance.now() - t);
}
rtts.sort((a, b) => a - b);

const limiter =
  spec.mode === "limiter"
    ? new HalfOpenLimiter({ maxHalfOpen: spec.maxHalfOpen, connectTimeoutMs: spec.timeoutMs, maxQueueLength: Infinity, ...(spec.releasePerSecond ? { releasePerSecond: spec.releasePerSecond } : {}) })
    : undefined;
const counts = { found: 0, timedOut: 0, other: 0 };
const tally = (o) => {
  if (o === "found") counts.found++;
  else if (o === "timeout") counts.timedOut++;
  else counts.other++;
};
const t0 = performance.now();
if (spec.threads) {
  let next = 0;
  const worker = async () => {
    while (next < spec.ports.length) tally(await attempt(limiter, spec.ports[next++]));
  };
  await Promise.all(Array.from({ length: spec.threads }, worker));
} else {
  (await Promise.all(spec.ports.map((p) => attempt(limiter, p)))).forEach(tally);
}
const elapsedMs = performance.now() - t0;
process.stdout.write(`${JSON.stringify({ elapsedMs, ...counts, rttMs: rtts[rtts.length >> 1] })}\n`);
