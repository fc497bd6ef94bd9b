/**
 * Runnable example: fetch() and http.get() through one limiter, against an
 * HTTP server this example starts on 127.0.0.1. At most 2 connects are ever
 * in flight; the rest wait for a slot, and no request is lost.
 *
 *   npx tsx examples/limiter-fetch.ts
 */
import http from "node:http";
import { once } from "node:events";
import type net from "node:net";
import { HalfOpenLimiter } from "halfopen/limiter";

const server = http.createServer((req, res) => res.end(`you asked for ${req.url}`)).listen(0, "127.0.0.1");
await once(server, "listening");
const base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;

const limiter = new HalfOpenLimiter({ maxHalfOpen: 2, connectTimeoutMs: 3000 });

// fetch: Node's global fetch, its connections through the limiter (no casts:
// limiter.fetch has the global fetch's own types). With undici's own fetch,
// pass { dispatcher: limiter.dispatcher() } instead.
const bodies = await Promise.all(
  Array.from({ length: 10 }, async (_, i) => {
    const res = await limiter.fetch(`${base}/page/${i}`);
    return res.text();
  }),
);
console.log(`fetch: ${bodies.length} responses, first: "${bodies[0]}"`);

// http.get: an http.Agent whose new connections go through the limiter.
const agent = limiter.httpAgent({ keepAlive: true });
const body = await new Promise<string>((resolve, reject) => {
  http
    .get(`${base}/agent`, { agent }, (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (d: string) => (text += d));
      res.on("end", () => resolve(text));
    })
    .on("error", reject);
});
console.log(`http.get: "${body}"`);

const stats = limiter.stats();
console.log(`connections ${stats.established}, peak in flight ${stats.peakInFlight} (max 2)`);
agent.destroy();
await limiter.close();
server.close();
