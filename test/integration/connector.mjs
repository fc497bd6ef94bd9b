// Test workload: opens TCP connects from inside a lab namespace and reports.
// Usage: node connector.mjs '{"title":"ho-x","host":"198.18.0.1","ports":[9,9],"holdMs":500,"listen":0,"spreadMs":0}'
// Prints {"ready":true,"pid":N} once every connect has been issued, then
// {"done":true,"results":{"<port>#<i>":"connect|ECONNREFUSED|..."}} before exiting.
import net from "node:net";

const spec = JSON.parse(process.argv[2] ?? "{}");
if (spec.title) process.title = spec.title;
const results = {};
const sockets = [];
let server;

function start() {
  // "spreadMs": the connects are issued in chunks every 5 ms over that long (a stream), not all at once.
  const chunks = spec.spreadMs ? Math.max(1, Math.floor(spec.spreadMs / 5)) : 1;
  const size = Math.ceil(spec.ports.length / chunks);
  let chunk = 0;
  const next = () => {
    issue(spec.ports.slice(chunk * size, (chunk + 1) * size), chunk * size);
    chunk++;
    if (chunk < chunks) setTimeout(next, 5);
    else issued();
  };
  next();
}

function issue(ports, first) {
  ports.forEach((port, k) => {
    const i = first + k;
    const s = net.connect({ host: spec.host, port });
    s.on("connect", () => {
      results[`${port}#${i}`] = "connect";
      s.end();
    });
    s.on("error", (e) => {
      results[`${port}#${i}`] = e.code;
    });
    sockets.push(s);
  });
}

function issued() {
  process.stdout.write(`${JSON.stringify({ ready: true, pid: process.pid })}\n`);
  setTimeout(() => {
    for (const s of sockets) s.destroy();
    server?.close();
    process.stdout.write(`${JSON.stringify({ done: true, results })}\n`);
    setTimeout(() => process.exit(0), 20);
  }, spec.holdMs ?? 0);
}

if (spec.listen) {
  server = net.createServer((c) => c.end()).listen(spec.listen, spec.host, start);
} else {
  start();
}
