// Test workload: repeated bursts of connect attempts that stay half-open
// (dropped ports in the lab), each held `holdMs` then closed, `gapMs` apart.
// Usage: node bursts.mjs '{"title":"ho-b","host":"198.18.0.1","port0":10000,"perBurst":4,"holdMs":100,"gapMs":300,"bursts":50}'
// Prints {"ready":true,"pid":N} at the first burst and {"done":true} at the end.
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

const spec = JSON.parse(process.argv[2] ?? "{}");
if (spec.title) process.title = spec.title;
process.stdout.write(`${JSON.stringify({ ready: true, pid: process.pid })}\n`);
for (let b = 0; b < spec.bursts; b++) {
  const sockets = [];
  for (let i = 0; i < spec.perBurst; i++) {
    const s = net.connect({ host: spec.host, port: spec.port0 + ((b * spec.perBurst + i) % 9000) });
    s.on("error", () => {});
    sockets.push(s);
  }
  await sleep(spec.holdMs);
  for (const s of sockets) s.destroy();
  await sleep(spec.gapMs);
}
process.stdout.write(`${JSON.stringify({ done: true })}\n`);
