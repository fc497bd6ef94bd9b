// Load generator for bench/run.ts, run inside the lab namespace.
// Makes TCP connects at a steady rate to one kind of target and reports what
// it did, as the ground truth the monitor is measured against.
//   spec: {"title","host","ports":[...],"rate":N,"durationMs":N,"holdMs":N}
//   - holdMs: a connect with no answer by then is destroyed (dropped targets)
// Prints {"pid","issued","localErrors","outcomes":{...}} on exit. Every connect
// that did not fail locally (EADDRNOTAVAIL, EMFILE, ...) entered SYN_SENT.
import net from "node:net";

const spec = JSON.parse(process.argv[2]);
process.title = spec.title;
const outcomes = {};
let issued = 0;
let localErrors = 0;
const LOCAL = new Set(["EADDRNOTAVAIL", "EMFILE", "ENFILE", "ENOBUFS", "EADDRINUSE"]);
const start = process.hrtime.bigint();
let portIndex = 0;

function one() {
  const port = spec.ports[portIndex++ % spec.ports.length];
  issued++;
  const s = net.connect({ host: spec.host, port });
  const timer = spec.holdMs ? setTimeout(() => { outcomes.held = (outcomes.held ?? 0) + 1; s.destroy(); }, spec.holdMs) : undefined;
  s.on("connect", () => {
    clearTimeout(timer);
    outcomes.connect = (outcomes.connect ?? 0) + 1;
    s.resetAndDestroy();
  });
  s.on("error", (e) => {
    clearTimeout(timer);
    if (LOCAL.has(e.code)) localErrors++;
    outcomes[e.code] = (outcomes[e.code] ?? 0) + 1;
  });
}

const tick = setInterval(() => {
  const elapsedMs = Number(process.hrtime.bigint() - start) / 1e6;
  const due = Math.min(Math.floor((elapsedMs * spec.rate) / 1000), Math.floor((spec.durationMs * spec.rate) / 1000));
  while (issued < due) one();
  if (elapsedMs >= spec.durationMs) {
    clearInterval(tick);
    setTimeout(() => {
      process.stdout.write(`${JSON.stringify({ pid: process.pid, title: spec.title, issued, localErrors, outcomes, elapsedMs })}\n`);
      process.exit(0);
    }, (spec.holdMs ?? 0) + 300);
  }
}, 5);
