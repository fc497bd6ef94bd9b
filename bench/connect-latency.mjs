// Connect latency, for bench/enforce.ts: run inside the lab namespace.
//   spec: {"host","port","count":N,"gapMs":N,"durationMs":N,"timeoutMs":N}
// One connect at a time (the next `gapMs` after the previous one ended), to a
// live listener: connect() to the 'connect' event, in ms. Stops after `count`
// connects or `durationMs`. Prints {"samples":[...],"failed":N} on exit.
import net from "node:net";
import { performance } from "node:perf_hooks";

const spec = JSON.parse(process.argv[2]);
if (!/^198\.(18|19)\./.test(spec.host)) throw new Error("lab addresses only");
process.title = spec.title ?? "bench-latency";
const samples = [];
let failed = 0;
const t0 = performance.now();

function one() {
  if (samples.length + failed >= (spec.count ?? Infinity) || performance.now() - t0 >= (spec.durationMs ?? Infinity)) {
    process.stdout.write(`${JSON.stringify({ samples, failed })}\n`);
    return;
  }
  const start = performance.now();
  const s = net.connect({ host: spec.host, port: spec.port });
  const timer = setTimeout(() => s.destroy(new Error("timeout")), spec.timeoutMs ?? 10_000);
  const next = () => setTimeout(one, spec.gapMs ?? 0);
  s.on("connect", () => {
    clearTimeout(timer);
    samples.push(performance.now() - start);
    s.resetAndDestroy();
    next();
  });
  s.on("error", () => {
    clearTimeout(timer);
    failed++;
    next();
  });
}
one();
