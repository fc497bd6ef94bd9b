/**
 * http, https, tls and fetch through a HalfOpenLimiter, against loopback
 * servers. The TLS certificate is test/fixtures/tls/localhost.crt.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import type net from "node:net";
import { after, before, describe, it } from "node:test";
import { fetch as undiciFetch } from "undici";
import { HalfOpenLimiter } from "./limiter.js";

const FIXTURES = new URL("../../test/fixtures/tls/", import.meta.url);
const key = readFileSync(new URL("localhost.key", FIXTURES));
const cert = readFileSync(new URL("localhost.crt", FIXTURES));

function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  res.setHeader("content-type", "text/plain");
  res.end(`hello ${req.url ?? ""}`);
}

async function listen(server: http.Server | https.Server): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as net.AddressInfo).port;
}

function get(mod: typeof http | typeof https, url: string, options: https.RequestOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = mod.get(url, options, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => (body += d));
      res.on("end", () => resolve(body));
    });
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error(`Request to ${url} timed out`)));
  });
}

describe("HalfOpenLimiter with http, https, tls and fetch", () => {
  const httpServer = http.createServer(handler);
  const httpsServer = https.createServer({ key, cert }, handler);
  let httpPort = 0;
  let httpsPort = 0;
  before(async () => {
    httpPort = await listen(httpServer);
    httpsPort = await listen(httpsServer);
  });
  after(() => {
    httpServer.closeAllConnections();
    httpsServer.closeAllConnections();
    httpServer.close();
    httpsServer.close();
  });

  it("http.get through limiter.httpAgent(): 30 requests, at most 2 connects in flight", async () => {
    const limiter = new HalfOpenLimiter({ maxHalfOpen: 2 });
    const agent = limiter.httpAgent();
    const bodies = await Promise.all(Array.from({ length: 30 }, (_, i) => get(http, `http://127.0.0.1:${httpPort}/${i}`, { agent })));
    assert.deepEqual(bodies, Array.from({ length: 30 }, (_, i) => `hello /${i}`));
    const stats = limiter.stats();
    assert.equal(stats.established, 30, "one connection per request without keep-alive");
    assert.equal(stats.peakInFlight, 2);
    assert.ok(stats.queuedTotal > 0);
    agent.destroy();
  });

  it("the http agent's timeout does not run while the connect waits", async () => {
    const limiter = new HalfOpenLimiter({ maxHalfOpen: 1 });
    const held = limiter.budget.request({ start: () => {}, reject: () => {} });
    const agent = limiter.httpAgent({ timeout: 50 });
    const pending = get(http, `http://127.0.0.1:${httpPort}/late`, { agent, timeout: 50 });
    setTimeout(() => held.release(), 200);
    assert.equal(await pending, "hello /late");
    agent.destroy();
  });

  it("https.get through limiter.httpsAgent() verifies the certificate and reuses the TLS session", async () => {
    const limiter = new HalfOpenLimiter({ maxHalfOpen: 1 });
    const agent = limiter.httpsAgent({ ca: cert, maxCachedSessions: 10 });
    assert.equal(await get(https, `https://localhost:${httpsPort}/a`, { agent }), "hello /a");
    const resumed: boolean[] = [];
    const req = https.get(`https://localhost:${httpsPort}/b`, { agent }, (res) => {
      resumed.push((res.socket as import("node:tls").TLSSocket).isSessionReused());
      res.resume();
    });
    await once(req, "close");
    assert.deepEqual(resumed, [true]);
    assert.equal(limiter.stats().established, 2);
    agent.destroy();
  });

  it("https refuses a certificate it cannot verify", async () => {
    const limiter = new HalfOpenLimiter({ maxHalfOpen: 1 });
    const agent = limiter.httpsAgent();
    await assert.rejects(get(https, `https://localhost:${httpsPort}/`, { agent }), (e: NodeJS.ErrnoException) => e.code === "DEPTH_ZERO_SELF_SIGNED_CERT");
    agent.destroy();
  });

  it("tlsConnect: the slot is released at TCP connect, before the handshake", async () => {
    const limiter = new HalfOpenLimiter({ maxHalfOpen: 1 });
    const socket = limiter.tlsConnect({ host: "localhost", port: httpsPort, ca: cert });
    let inFlightAtSecure = -1;
    socket.once("secureConnect", () => (inFlightAtSecure = limiter.budget.inFlight));
    await once(socket, "secureConnect");
    assert.equal(socket.authorized, true);
    assert.equal(inFlightAtSecure, 0);
    socket.destroy();
  });

  it("undici fetch with limiter.dispatcher()", async () => {
    const limiter = new HalfOpenLimiter({ maxHalfOpen: 2 });
    const dispatcher = limiter.dispatcher({ tls: { ca: cert } });
    const texts = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const res = await undiciFetch(`http://127.0.0.1:${httpPort}/f${i}`, { dispatcher });
        return res.text();
      }),
    );
    assert.deepEqual(texts, Array.from({ length: 10 }, (_, i) => `hello /f${i}`));
    const secure = await undiciFetch(`https://localhost:${httpsPort}/s`, { dispatcher });
    assert.equal(await secure.text(), "hello /s");
    assert.ok(limiter.stats().established >= 2);
    assert.ok(limiter.stats().peakInFlight <= 2);
    await dispatcher.close();
  });

  it("Node's global fetch with limiter.dispatcher()", async () => {
    const limiter = new HalfOpenLimiter({ maxHalfOpen: 1 });
    const dispatcher = limiter.dispatcher();
    const res = await fetch(`http://127.0.0.1:${httpPort}/global`, { dispatcher } as unknown as RequestInit);
    assert.equal(await res.text(), "hello /global");
    assert.equal(limiter.stats().established, 1);
    await dispatcher.close();
  });
});
