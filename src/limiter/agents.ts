/**
 * http.Agent and https.Agent whose new connections go through a
 * HalfOpenLimiter: `http.get(url, { agent: limiter.httpAgent() })`. Keep-alive,
 * maxSockets and the rest of the Agent behave as usual; only the TCP connect
 * of each new socket waits for a slot.
 */
import http from "node:http";
import https from "node:https";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import type { HalfOpenLimiter, LimitedConnectOptions, LimitedTlsConnectOptions } from "./limiter.js";

/**
 * @example
 * ```ts
 * import http from "node:http";
 * import { HalfOpenLimiter, LimitedHttpAgent } from "halfopen/limiter";
 * const agent = new LimitedHttpAgent(new HalfOpenLimiter({ maxHalfOpen: 8 }), { keepAlive: true });
 * http
 *   .get("http://127.0.0.1:8080/", { agent }, (res) => res.resume().on("end", () => agent.destroy()))
 *   .on("error", (e: NodeJS.ErrnoException) => { console.log(e.code); agent.destroy(); }); // ECONNREFUSED: no server
 * ```
 */
export class LimitedHttpAgent extends http.Agent {
  constructor(
    readonly limiter: HalfOpenLimiter,
    options?: http.AgentOptions,
  ) {
    super(options);
  }

  override createConnection(options: http.ClientRequestArgs): Duplex {
    return this.limiter.connect(options as LimitedConnectOptions);
  }
}

/** Node's private session cache of https.Agent (stable since Node 0.11). */
interface SessionCache {
  _getSession(key: string): Buffer | undefined;
  _cacheSession(key: string, session: Buffer): void;
  _evictSession(key: string): void;
}

/**
 * @example
 * ```ts
 * import https from "node:https";
 * import { HalfOpenLimiter, LimitedHttpsAgent } from "halfopen/limiter";
 * const agent = new LimitedHttpsAgent(new HalfOpenLimiter(), { keepAlive: true });
 * https
 *   .get("https://localhost:8443/", { agent }, (res) => res.resume().on("end", () => agent.destroy()))
 *   .on("error", (e: NodeJS.ErrnoException) => { console.log(e.code); agent.destroy(); });
 * ```
 */
export class LimitedHttpsAgent extends https.Agent {
  constructor(
    readonly limiter: HalfOpenLimiter,
    options?: https.AgentOptions,
  ) {
    super(options);
  }

  /** What https.Agent does (TLS session reuse), with the TCP connect through the limiter. */
  override createConnection(options: https.RequestOptions): Duplex {
    const cache = this as unknown as SessionCache;
    const key = (options as { _agentKey?: string })._agentKey;
    const session = key ? cache._getSession(key) : undefined;
    const socket: TLSSocket = this.limiter.tlsConnect((session ? { session, ...options } : options) as LimitedTlsConnectOptions);
    if (key) {
      socket.on("session", (s: Buffer) => cache._cacheSession(key, s));
      socket.once("close", (hadError: boolean) => {
        if (hadError) cache._evictSession(key);
      });
    }
    return socket;
  }
}
