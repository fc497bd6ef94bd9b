// Bench workload for the scan verdicts: connects to a list of targets with a
// concurrency cap, a gap between starts and a timeout per connect, for some
// rounds. Run inside the verdicts lab namespace (bench/verdicts.ts).
// Usage: node verdict-workload.mjs '{"title":"wl-x","targets":[["198.18.1.1",80]],"concurrency":4,"gapMs":0,"timeoutMs":3000,"rounds":1,"roundGapMs":0,"durationMs":20000}'
// Prints {"ready":true,"pid":N} first and {"done":true,"results":{"connect":N,...}} at the end.
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

const spec = JSON.parse(process.argv[2] ?? "{}");
process.title = spec.title;
const results = {};
const deadline = Date.now() + (spec.durationMs ?? 60_000);
let inFlight = 0;
const waiters = [];

function attempt([host, port]) {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const finish = (what) => {
      clearTimeout(timer);
      results[what] = (results[what] ?? 0) + 1;
      s.destroy();
      resolve();
    };
    const timer = setTimeout(() => finish("timeout"), spec.timeoutMs ?? 3000);
    s.once("connect", () => finish("connect"));
    s.once("error", (e) => finish(e.code ?? "error"));
  });
}

process.stdout.write(`${JSON.stringify({ ready: true, pid: process.pid })}\n`);
const running = [];
outer: for (let round = 0; round < (spec.rounds ?? 1); round++) {
  for (const target of spec.targets) {
    if (Date.now() > deadline) break outer;
    while (inFlight >= (spec.concurrency ?? 1)) await new Promise((r) => waiters.push(r));
    inFlight++;
    running.push(
      attempt(target).then(() => {
        inFlight--;
        waiters.shift()?.();
      }),
    );
    if (spec.gapMs) await sleep(spec.gapMs);
  }
  if (spec.roundGapMs) await sleep(spec.roundGapMs);
}
await Promise.all(running);
process.stdout.write(`${JSON.stringify({ done: true, results })}\n`);
