/** Loopback helpers for tests that run servers. */
import { once } from "node:events";
import { createServer } from "node:net";

/** A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released). */
export async function freePort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as { port: number }).port;
  server.close();
  await once(server, "close");
  return port;
}

/**
 * A TCP port on 127.0.0.1 that is free and below the ephemeral range
 * (net.ipv4.ip_local_port_range starts at 32768), so no outgoing connect of a
 * test running meanwhile takes it as its source port: a test can find it
 * closed now and listen on it later.
 */
export async function quietPort(): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const server = createServer();
    const ok = await new Promise<boolean>((resolve) => {
      server.once("error", () => resolve(false));
      server.listen(port, "127.0.0.1", () => resolve(true));
    });
    if (!ok) continue;
    server.close();
    await once(server, "close");
    return port;
  }
  throw new Error("no free port between 20000 and 32000 on 127.0.0.1");
}
