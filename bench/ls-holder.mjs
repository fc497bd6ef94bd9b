// Bench workload: holds N half-open connects (SYNs dropped by the lab's nftables).
// Usage: node ls-holder.mjs '{"host":"198.18.0.1","count":15000,"firstPort":10000,"lastPort":19999}'
// Prints {"ready":true,"pid":N,"connecting":K} once every connect is issued; exits on SIGTERM.
import net from "node:net";

const spec = JSON.parse(process.argv[2] ?? "{}");
process.title = "ho-bench-hold";
const sockets = [];
const span = spec.lastPort - spec.firstPort + 1;
for (let i = 0; i < spec.count; i++) {
  const s = net.connect({ host: spec.host, port: spec.firstPort + (i % span) });
  s.on("error", () => {});
  sockets.push(s);
}
setTimeout(() => process.stdout.write(`${JSON.stringify({ ready: true, pid: process.pid, connecting: sockets.filter((s) => s.connecting).length })}\n`), 500);
process.on("SIGTERM", () => process.exit(0));
