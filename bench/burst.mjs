// Latency workload for bench/run.ts, run inside the lab namespace: repeated
// bursts of `size` connects to a dropped port, each held `holdMs` and then
// destroyed, `gapMs` apart, so every burst makes one incident. Prints one
// line {"burst":i} before each burst and {"done":true,"pid"} at the end.
import net from "node:net";

const spec = JSON.parse(process.argv[2]);
process.title = spec.title;
let i = 0;
function burst() {
  if (i >= spec.bursts) {
    process.stdout.write(`${JSON.stringify({ done: true, pid: process.pid })}\n`);
    setTimeout(() => process.exit(0), 20);
    return;
  }
  process.stdout.write(`${JSON.stringify({ burst: i++ })}\n`);
  const socks = [];
  for (let k = 0; k < spec.size; k++) socks.push(net.connect({ host: spec.host, port: spec.port }).on("error", () => {}));
  setTimeout(() => {
    for (const s of socks) s.destroy();
    setTimeout(burst, spec.gapMs);
  }, spec.holdMs);
}
burst();
