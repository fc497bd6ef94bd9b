// The scanner of the vendor's case, for bench/enforce.ts (run inside the lab):
// `threads` workers take targets in order; each target is one connect with a
// timer of `programTimeoutMs` from connect() (the scanner's port check); a
// target answers (found) if the connect ends with a connection or a refusal
// before the timer. spec: {"host","ports":[...],"threads":N,"programTimeoutMs":N}
// Prints {"ms","found","answered":[index,...]} at the end.
import net from "node:net";
import { performance } from "node:perf_hooks";

const spec = JSON.parse(process.argv[2]);
if (!/^198\.(18|19)\./.test(spec.host)) throw new Error("lab addresses only");
process.title = spec.title ?? "bench-vendor-scan";
const t0 = performance.now();
const answered = [];
let next = 0;
let running = 0;

function worker() {
  if (next >= spec.ports.length) {
    if (--running === 0) process.stdout.write(`${JSON.stringify({ ms: performance.now() - t0, found: answered.length, answered: answered.sort((a, b) => a - b) })}\n`);
    return;
  }
  const i = next++;
  const s = net.connect({ host: spec.host, port: spec.ports[i] });
  let done = false;
  const end = (ok) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    if (ok) answered.push(i);
    s.destroy();
    setImmediate(worker);
  };
  const timer = setTimeout(() => end(false), spec.programTimeoutMs);
  s.on("connect", () => end(true));
  s.on("error", (e) => end(e.code === "ECONNREFUSED"));
}
running = spec.threads;
for (let t = 0; t < spec.threads; t++) worker();
