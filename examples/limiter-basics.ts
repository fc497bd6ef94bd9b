/**
 * Runnable example: 40 connects through a HalfOpenLimiter with maxHalfOpen 5,
 * to a server this example starts on 127.0.0.1. Prints the limit-reached
 * event (the counterpart of Windows Event 4226) and the limiter's stats.
 *
 *   npx tsx examples/limiter-basics.ts
 */
import net from "node:net";
import { once } from "node:events";
import { HalfOpenLimiter } from "halfopen/limiter";

const server = net.createServer((socket) => socket.end("hi\n")).listen(0, "127.0.0.1");
await once(server, "listening");
const { port } = server.address() as net.AddressInfo;

const limiter = new HalfOpenLimiter({ maxHalfOpen: 5, connectTimeoutMs: 2000, name: "example" });
limiter.on("limit-reached", (m) => {
  console.log(`limit reached: ${m.inFlight} connects in flight (max ${m.maxHalfOpen}), ${m.queued} queued`);
});

const replies = await Promise.all(
  Array.from({ length: 40 }, async () => {
    const socket = limiter.connect({ host: "127.0.0.1", port });
    let text = "";
    socket.setEncoding("utf8").on("data", (d: string) => (text += d));
    await once(socket, "end");
    socket.destroy();
    return text.trim();
  }),
);

const stats = limiter.stats();
console.log(`replies: ${replies.filter((r) => r === "hi").length}/40`);
console.log(`established ${stats.established}, failed ${stats.failed}, peak in flight ${stats.peakInFlight}, had to queue ${stats.queuedTotal}`);
server.close();
