// Test workload of the enforcement lab: connect attempts in batches, each
// with its own timeout, from inside a lab namespace. Usage:
//   node enforce-flood.mjs '{"title":"ho-flood","host":"198.18.1.2","batches":[{"ports":[10000,...],"atMs":0}],"timeoutMs":60000}'
// Prints {"ready":true,"pid":N} at start, then {"done":true,"t0":..,"attempts":[{port,startMs,endMs,outcome}]}
// (times in ms from the first connect) once every attempt has ended.
import net from "node:net";
import { performance } from "node:perf_hooks";

const spec = JSON.parse(process.argv[2] ?? "{}");
if (spec.title) process.title = spec.title;
if (!/^198\.(18|19)\./.test(spec.host)) throw new Error("lab addresses only");
const attempts = [];
const total = spec.batches.reduce((n, b) => n + b.ports.length, 0);
let ended = 0;
const t0 = performance.now();

function one(port) {
  const a = { port, startMs: performance.now() - t0 };
  attempts.push(a);
  const s = net.connect({ host: spec.host, port });
  const finish = (outcome) => {
    if (a.outcome) return;
    a.outcome = outcome;
    a.endMs = performance.now() - t0;
    s.destroy();
    if (++ended === total) {
      process.stdout.write(`${JSON.stringify({ done: true, attempts })}\n`);
      setTimeout(() => process.exit(0), 20);
    }
  };
  const timer = setTimeout(() => finish("timeout"), spec.timeoutMs ?? 60_000);
  s.on("connect", () => {
    clearTimeout(timer);
    finish("connect");
  });
  s.on("error", (e) => {
    clearTimeout(timer);
    finish(e.code ?? "error");
  });
}

process.stdout.write(`${JSON.stringify({ ready: true, pid: process.pid })}\n`);
for (const b of spec.batches) setTimeout(() => b.ports.forEach(one), b.atMs ?? 0);
