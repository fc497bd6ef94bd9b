/**
 * Test workload for the limiter, run inside a lab namespace through tsx:
 *   node --import tsx limited-connector.ts '{"title":"ho-lim","mode":"limiter","host":"198.18.0.1",
 *     "ports":[10000,10001],"maxHalfOpen":10,"connectTimeoutMs":200,"listen":8080}'
 * mode "limiter" connects through a HalfOpenLimiter, "plain" with net.connect
 * (destroying each socket after connectTimeoutMs). Prints {"ready":true,"pid"}
 * first, then one {"done":true,"attempts":[...],"elapsedMs"} line and exits.
 */
import net from "node:net";
import { HalfOpenLimiter } from "../../src/limiter/index.js";

interface Spec {
  title: string;
  mode: "limiter" | "plain";
  host: string;
  ports: number[];
  maxHalfOpen: number;
  connectTimeoutMs: number;
  listen?: number;
}

export interface AttemptResult {
  port: number;
  result: string;
  /** From connect() to the end. */
  totalMs: number;
  /** From the slot grant to the end (limiter mode). */
  connectMs: number | undefined;
  waitedMs: number | undefined;
}

const spec = JSON.parse(process.argv[2] ?? "{}") as Spec;
process.title = spec.title;

async function main(): Promise<void> {
  let server: net.Server | undefined;
  if (spec.listen) {
    const s = net.createServer((c) => c.end());
    server = s;
    await new Promise<void>((resolve) => s.listen(spec.listen, spec.host, resolve));
  }
  process.stdout.write(`${JSON.stringify({ ready: true, pid: process.pid })}\n`);
  const limiter = new HalfOpenLimiter({ maxHalfOpen: spec.maxHalfOpen, connectTimeoutMs: spec.connectTimeoutMs });
  // Ports are unique per run, so the port names the attempt.
  const grants = new Map<number, { at: number; waitedMs: number }>();
  limiter.on("started", (m) => grants.set(m.port, { at: performance.now(), waitedMs: m.waitedMs }));
  const t0 = performance.now();
  const attempts = spec.ports.map(
    (port) =>
      new Promise<AttemptResult>((resolve) => {
        const begin = performance.now();
        const socket = spec.mode === "limiter" ? limiter.connect({ host: spec.host, port }) : net.connect({ host: spec.host, port });
        const timer = spec.mode === "plain" ? setTimeout(() => socket.destroy(Object.assign(new Error("timeout"), { code: "PLAIN_TIMEOUT" })), spec.connectTimeoutMs) : undefined;
        let result = "closed";
        socket.on("connect", () => {
          result = "connect";
          socket.end();
        });
        socket.on("error", (e: NodeJS.ErrnoException) => (result = e.code ?? e.message));
        socket.on("close", () => {
          clearTimeout(timer);
          const end = performance.now();
          const grant = grants.get(port);
          resolve({ port, result, totalMs: end - begin, connectMs: grant ? end - grant.at : undefined, waitedMs: grant?.waitedMs });
        });
      }),
  );
  const results = await Promise.all(attempts);
  server?.close();
  process.stdout.write(`${JSON.stringify({ done: true, attempts: results, elapsedMs: performance.now() - t0, stats: limiter.stats() })}\n`);
  setTimeout(() => process.exit(0), 20);
}

void main();
