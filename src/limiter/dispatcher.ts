/**
 * An undici dispatcher whose connections go through a HalfOpenLimiter, so
 * `fetch` (undici's, or Node's global one) keeps to the half-open budget:
 * `fetch(url, { dispatcher: limiter.dispatcher() })`.
 *
 * undici is loaded on first use, so programs that only use `connect()` never
 * load it. TLS sessions are not cached across connections (undici's own
 * connector does; ours opens each TLS connection with a full handshake).
 */
import { createRequire } from "node:module";
import net from "node:net";
import type { Socket } from "node:net";
import type { ConnectionOptions } from "node:tls";
import tls from "node:tls";
import type { Agent, buildConnector } from "undici";
import type { HalfOpenLimiter } from "./limiter.js";

const require = createRequire(import.meta.url);

export interface LimitedDispatcherOptions extends Omit<Agent.Options, "connect" | "tls"> {
  /** TLS options for https origins (ca, cert, rejectUnauthorized, ...). */
  tls?: ConnectionOptions;
}

/** An undici `connect` function that opens every connection through `limiter`. */
export function limitedConnector(limiter: HalfOpenLimiter, tlsOptions: ConnectionOptions = {}): buildConnector.connector {
  return (options, callback) => {
    const { hostname, protocol, servername, localAddress, httpSocket } = options;
    const secure = protocol === "https:";
    const port = Number(options.port) || (secure ? 443 : 80);
    let socket: Socket;
    if (secure && httpSocket) {
      // TLS through an existing tunnel (a proxy's CONNECT): no TCP connect to limit.
      socket = tls.connect({ ...tlsOptions, socket: httpSocket, servername: servername ?? undefined, ALPNProtocols: ["http/1.1"] });
    } else if (secure) {
      const sni = servername ?? (net.isIP(hostname) ? undefined : hostname);
      socket = limiter.tlsConnect({ ALPNProtocols: ["http/1.1"], ...tlsOptions, host: hostname, port, servername: sni, localAddress: localAddress ?? undefined });
    } else {
      socket = limiter.connect({ host: hostname, port, localAddress: localAddress ?? undefined });
    }
    socket.setNoDelay(true);
    const ready = secure ? "secureConnect" : "connect";
    const onReady = () => {
      socket.off("error", onError);
      callback(null, socket);
    };
    const onError = (error: Error) => {
      socket.off(ready, onReady);
      callback(error, null);
    };
    socket.once(ready, onReady).once("error", onError);
  };
}

/**
 * @example
 * ```ts
 * import { HalfOpenLimiter } from "halfopen/limiter";
 * const limiter = new HalfOpenLimiter({ maxHalfOpen: 10 });
 * const dispatcher = limiter.dispatcher();
 * try {
 *   const res = await fetch("http://127.0.0.1:8080/", { dispatcher } as unknown as RequestInit);
 *   console.log(res.status);
 * } catch (e) {
 *   console.log("no server on 127.0.0.1:8080:", (e as Error).message);
 * } finally {
 *   await dispatcher.close();
 * }
 * ```
 */
export function limitedDispatcher(limiter: HalfOpenLimiter, options: LimitedDispatcherOptions = {}): Agent {
  const { tls: tlsOptions, ...agentOptions } = options;
  const undici = require("undici") as typeof import("undici");
  return new undici.Agent({ ...agentOptions, connect: limitedConnector(limiter, tlsOptions) });
}
