// The P2P client of the article's case, for bench/enforce.ts (run inside the
// lab): walks its peer list in order with no limit of its own, keeping
// connected + connecting below `want`; a connect that has not connected
// `timeoutMs` after connect() is given up (XP's 21 s of SYN retries). Stays
// `durationMs`. spec: {"host","ports":[...],"want":N,"timeoutMs":N,"durationMs":N,"fullAt":N}
// Prints {"connected","fullAtMs"} (when `fullAt` peers were connected).
import net from "node:net";
import { performance } from "node:perf_hooks";

const spec = JSON.parse(process.argv[2]);
if (!/^198\.(18|19)\./.test(spec.host)) throw new Error("lab addresses only");
process.title = spec.title ?? "bench-p2p";
const t0 = performance.now();
let connected = 0;
let connecting = 0;
let next = 0;
let fullAtMs;
const sockets = [];

function pump() {
  while (connecting + connected < spec.want && next < spec.ports.length) {
    const s = net.connect({ host: spec.host, port: spec.ports[next++] });
    sockets.push(s);
    connecting++;
    let done = false;
    const end = (ok) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      connecting--;
      if (ok) {
        connected++;
        if (fullAtMs === undefined && connected >= spec.fullAt) fullAtMs = performance.now() - t0;
      } else s.destroy();
      pump();
    };
    const timer = setTimeout(() => end(false), spec.timeoutMs);
    s.on("connect", () => end(true));
    s.on("error", () => end(false));
  }
}
pump();
setTimeout(() => {
  process.stdout.write(`${JSON.stringify({ connected, fullAtMs: fullAtMs ?? null })}\n`);
  for (const s of sockets) s.destroy();
  process.exit(0);
}, spec.durationMs);
