/**
 * HalfOpenLimiter: `net.connect` and `tls.connect` that keep at most
 * `maxHalfOpen` TCP connects (SYN sent, no answer yet) in flight, the Windows
 * XP SP2 rule, for any Node program. Extra attempts wait in a queue (FIFO,
 * optional priority, optional release rate) and start as soon as a slot frees.
 *
 * Mechanism: `connect()` returns a real `net.Socket` at once. Until its slot
 * is granted it behaves like a socket whose DNS lookup is still running
 * (`connecting` is true, writes and `end()` are held until 'connect', idle
 * timeouts are deferred). Host names are resolved before the attempt queues,
 * so DNS time never holds a slot. The slot is released exactly once, on
 * 'connect', error, connect timeout or destroy. The connect timeout starts
 * when the slot is granted, never while the attempt waits (libtorrent's rule).
 *
 * Needs: Node ≥ 20. No privileges. The queue itself is src/core/half-open-budget.ts.
 */
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { EventEmitter } from "node:events";
import type http from "node:http";
import type https from "node:https";
import net from "node:net";
import tls from "node:tls";
import { ErrorCodes, HalfOpenError } from "../errors.js";
import { HalfOpenBudget, type BudgetStats, type HalfOpenBudgetOptions, type Lease } from "../core/half-open-budget.js";
import type { Agent } from "undici";
import { LimitedHttpAgent, LimitedHttpsAgent } from "./agents.js";
import { limitedDispatcher, type LimitedDispatcherOptions } from "./dispatcher.js";
import { channels, type EstablishedMessage, type FailedMessage, type LimitReachedMessage, type QueuedMessage, type StartedMessage } from "./channels.js";

/** Per-attempt options, accepted by `connect()` and `tlsConnect()` beside Node's own. */
export interface AttemptOptions {
  /** Higher starts first when attempts wait. Default 0. */
  priority?: number;
  /** Aborts the attempt: while queued (HALFOPEN_ABORTED, nothing was sent) or later (the socket is destroyed). */
  signal?: AbortSignal;
  /** Overrides the limiter's `maxQueueMs`. */
  maxQueueMs?: number;
  /** Overrides the limiter's `connectTimeoutMs`. */
  connectTimeoutMs?: number;
}

export type LimitedConnectOptions = net.TcpNetConnectOpts & AttemptOptions;
export type LimitedTlsConnectOptions = tls.ConnectionOptions & Pick<net.TcpNetConnectOpts, "family" | "hints" | "localAddress" | "localPort" | "autoSelectFamily"> & AttemptOptions;

export interface HalfOpenLimiterOptions extends HalfOpenBudgetOptions {
  /**
   * A budget to share with other limiters. Without it (and without any of
   * maxHalfOpen, releasePerSecond, maxQueueMs, maxQueueLength) the limiter
   * joins the process-wide `sharedBudget()`, like XP's system-wide limit.
   */
  budget?: HalfOpenBudget;
  /** Destroy a started attempt with HALFOPEN_CONNECT_TIMEOUT after this long without an answer. Default: none (the kernel's SYN retries, about 127 s on Linux). */
  connectTimeoutMs?: number;
  /** Names this limiter in events and diagnostics_channel messages. Default "default". */
  name?: string;
}

export interface LimiterEvents {
  queued: [QueuedMessage];
  started: [StartedMessage];
  established: [EstablishedMessage];
  failed: [FailedMessage];
  "limit-reached": [LimitReachedMessage];
}

export interface LimiterStats extends BudgetStats {
  /** This limiter's attempts (the budget's counters above may include other limiters). */
  attempts: number;
  established: number;
  failed: number;
  /** Failures by error code (ECONNREFUSED, HALFOPEN_CONNECT_TIMEOUT, ...). */
  failures: Record<string, number>;
}

let shared: HalfOpenBudget | undefined;

/**
 * The process-wide budget (maxHalfOpen 10) that limiters created without
 * budget options share.
 *
 * @example
 * ```ts
 * import { HalfOpenLimiter, sharedBudget } from "halfopen/limiter";
 * const crawler = new HalfOpenLimiter({ name: "crawler" });
 * const checker = new HalfOpenLimiter({ name: "health" });
 * // Together they never have more than sharedBudget().maxHalfOpen connects in flight.
 * ```
 */
export function sharedBudget(): HalfOpenBudget {
  shared ??= new HalfOpenBudget();
  return shared;
}

const BUDGET_KEYS = ["maxHalfOpen", "releasePerSecond", "maxQueueMs", "maxQueueLength", "clock"] as const;

function validTimeout(name: string, value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !(value > 0)) {
    throw new HalfOpenError(ErrorCodes.INVALID_OPTION, `Invalid option ${name} "${String(value)}": must be a number of milliseconds > 0`);
  }
  return Number.isFinite(value) ? value : undefined;
}

function validPort(port: unknown): number {
  if (typeof port === "number" && Number.isInteger(port) && port >= 0 && port <= 65535) return port;
  const n = typeof port === "string" && port.trim() !== "" ? Number(port) : port;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > 65535) {
    throw new HalfOpenError(ErrorCodes.INVALID_OPTION, `Invalid port "${String(port)}": must be an integer 0-65535`);
  }
  return n;
}

/** "host:port", IPv6 in brackets. */
function targetOf(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

type Listener = () => void;

const CHANNEL_OF = {
  queued: channels.queued,
  started: channels.started,
  established: channels.established,
  failed: channels.failed,
  "limit-reached": channels.limitReached,
} as const;
type NetLookup = NonNullable<net.TcpNetConnectOpts["lookup"]>;

/**
 * Hold `socket.setTimeout()` (and an initial `timeout` option) until the
 * returned function runs, so an idle timeout never counts the queue wait.
 * With `holdEnd`, hold `end()` too: Node's `connect()` resets a socket's
 * writable state (it "undestroys" it), which would forget an end() made
 * while the attempt was queued. Writes need no help: they wait for 'connect'.
 * The returned function must run after `socket.connect()`.
 */
function holdWhileQueued(socket: net.Socket, initialTimeoutMs: number | undefined, holdEnd: boolean): () => void {
  // Own properties that forward once released (never `delete`d: that would
  // turn the socket into a slow dictionary-mode object).
  const proto = Object.getPrototypeOf(socket) as net.Socket;
  let held = true;
  let timeoutMs = initialTimeoutMs;
  let endArgs: unknown[] | undefined;
  socket.setTimeout = function heldSetTimeout(this: net.Socket, ms: number, callback?: () => void) {
    if (!held) return proto.setTimeout.call(this, ms, callback);
    timeoutMs = ms;
    if (callback) this.once("timeout", callback);
    return this;
  };
  if (holdEnd) {
    socket.end = function heldEnd(this: net.Socket, ...args: unknown[]) {
      if (!held) return (proto.end as (...a: unknown[]) => net.Socket).apply(this, args);
      endArgs ??= args;
      return this;
    } as net.Socket["end"];
  }
  return () => {
    held = false;
    if (timeoutMs) proto.setTimeout.call(socket, timeoutMs);
    if (endArgs) (proto.end as (...a: unknown[]) => net.Socket).apply(socket, endArgs);
  };
}

/**
 * @example
 * ```ts
 * import { HalfOpenLimiter } from "halfopen/limiter";
 * const limiter = new HalfOpenLimiter({ maxHalfOpen: 10, connectTimeoutMs: 3000 });
 * for (const port of [22, 80, 443]) {
 *   const socket = limiter.connect({ host: "127.0.0.1", port });
 *   socket.on("connect", () => { console.log(port, "open"); socket.destroy(); });
 *   socket.on("error", (e: NodeJS.ErrnoException) => console.log(port, e.code));
 * }
 * ```
 */
export class HalfOpenLimiter extends EventEmitter<LimiterEvents> {
  readonly budget: HalfOpenBudget;
  readonly name: string;
  readonly connectTimeoutMs: number | undefined;
  readonly #counts = { attempts: 0, established: 0, failed: 0 };
  readonly #failures: Record<string, number> = {};

  constructor(options: HalfOpenLimiterOptions = {}) {
    super();
    const shaping = BUDGET_KEYS.filter((k) => options[k] !== undefined);
    if (options.budget && shaping.length > 0) {
      throw new HalfOpenError(ErrorCodes.INVALID_OPTION, `Invalid options: pass either budget or ${shaping.join(", ")}, not both (the budget already has its own)`);
    }
    this.budget = options.budget ?? (shaping.length > 0 ? new HalfOpenBudget(options) : sharedBudget());
    this.connectTimeoutMs = validTimeout("connectTimeoutMs", options.connectTimeoutMs);
    this.name = options.name ?? "default";
  }

  /**
   * Like `net.connect(options[, listener])` or `net.connect(port[, host][, listener])`,
   * but the connect waits for a slot. Returns the socket at once.
   */
  connect(options: LimitedConnectOptions, connectListener?: Listener): net.Socket;
  connect(port: number, host?: string, connectListener?: Listener): net.Socket;
  connect(port: number, connectListener?: Listener): net.Socket;
  connect(a: LimitedConnectOptions | number, b?: string | Listener, c?: Listener): net.Socket {
    let options: LimitedConnectOptions;
    let listener: Listener | undefined;
    if (typeof a === "object" && a !== null) {
      options = a;
      listener = typeof b === "function" ? b : undefined;
    } else {
      options = { port: a, host: typeof b === "string" ? b : undefined };
      listener = typeof b === "function" ? b : c;
    }
    return this.#connect(options, listener);
  }

  /**
   * Like `tls.connect(options[, listener])`. The TCP connect goes through the
   * limiter; the slot is released when TCP connects, before the TLS handshake
   * (which is not half-open). With `options.socket` there is no TCP connect to
   * limit and this is plain `tls.connect`.
   */
  tlsConnect(options: LimitedTlsConnectOptions, secureConnectListener?: Listener): tls.TLSSocket {
    if (options.socket) return tls.connect(options, secureConnectListener);
    const host = options.host ?? "localhost";
    const { priority, signal, maxQueueMs, connectTimeoutMs, port, family, hints, localAddress, localPort, autoSelectFamily, lookup, timeout } = options;
    let started = false;
    let applyIdleTimeout = () => {};
    const onStart = () => {
      started = true;
      applyIdleTimeout();
    };
    const raw = this.#connect({ host, port: port ?? 443, family, hints, localAddress, localPort, autoSelectFamily, lookup, priority, signal, maxQueueMs, connectTimeoutMs }, undefined, onStart);
    const servername = options.servername ?? (net.isIP(host) ? undefined : host);
    // Errors of `raw` reach the TLS socket, and destroying it destroys `raw`.
    const secure = tls.connect({ ...options, host, servername, socket: raw, timeout: undefined }, secureConnectListener);
    if (!started) applyIdleTimeout = holdWhileQueued(secure, timeout, false);
    else if (timeout) secure.setTimeout(timeout);
    return secure;
  }

  /** An http.Agent whose new connections go through this limiter. */
  httpAgent(options?: http.AgentOptions): LimitedHttpAgent {
    return new LimitedHttpAgent(this, options);
  }

  /** An https.Agent whose new connections go through this limiter. */
  httpsAgent(options?: https.AgentOptions): LimitedHttpsAgent {
    return new LimitedHttpsAgent(this, options);
  }

  /** An undici dispatcher for `fetch(url, { dispatcher })` whose connections go through this limiter. */
  dispatcher(options?: LimitedDispatcherOptions): Agent {
    return limitedDispatcher(this, options);
  }

  /** Budget counters plus this limiter's own. */
  stats(): LimiterStats {
    return { ...this.budget.stats(), ...this.#counts, failures: { ...this.#failures } };
  }

  #connect(options: LimitedConnectOptions, listener: Listener | undefined, onStart?: () => void): net.Socket {
    const { priority, signal, maxQueueMs, connectTimeoutMs: attemptTimeoutMs, timeout, ...netOptions } = options;
    const host = options.host ?? "localhost";
    const port = validPort(options.port);
    const connectTimeoutMs = validTimeout("connectTimeoutMs", attemptTimeoutMs) ?? this.connectTimeoutMs;
    netOptions.host = host;
    netOptions.port = port;
    const socket = new net.Socket(netOptions);
    if (listener) socket.once("connect", listener);
    this.#counts.attempts++;

    let lease: Lease | undefined;
    let connected = false;
    let connectTimer: ReturnType<typeof setTimeout> | undefined;
    let releaseHeld: (() => void) | undefined;
    const target = () => targetOf(host, port);
    const base = () => ({ limiter: this.name, id: lease?.id ?? 0, target: target(), host, port, inFlight: this.budget.inFlight, queued: this.budget.queued });
    /** Until the slot is granted, look like a socket whose DNS lookup is running. */
    const hold = () => {
      (socket as { connecting: boolean }).connecting = true;
      releaseHeld = holdWhileQueued(socket, timeout, true);
    };

    const onAbort = () => {
      if (lease?.state !== "queued" && !socket.destroyed) {
        const what = connected ? `Connection to ${target()} aborted` : `Connect attempt to ${target()} aborted while connecting`;
        socket.destroy(new HalfOpenError(ErrorCodes.ABORTED, what, { cause: signal?.reason }));
      }
    };
    signal?.addEventListener("abort", onAbort, { once: true });

    socket.on("connect", () => {
      connected = true;
      if (connectTimer) clearTimeout(connectTimer);
      this.#counts.established++;
      if (this.#wants("established")) {
        this.#publish("established", { ...base(), waitedMs: lease?.waitedMs ?? 0, connectMs: this.budget.clock.now() - (lease?.startedAt ?? 0) });
      }
      lease?.release();
    });
    socket.on("close", () => {
      if (connectTimer) clearTimeout(connectTimer);
      signal?.removeEventListener("abort", onAbort);
      if (!connected) {
        const failure = socket.errored ?? undefined;
        const code = (failure as NodeJS.ErrnoException | null | undefined)?.code ?? "DESTROYED";
        this.#counts.failed++;
        this.#failures[code] = (this.#failures[code] ?? 0) + 1;
        if (this.#wants("failed")) this.#publish("failed", { ...base(), code, error: failure, started: lease?.startedAt !== undefined });
      }
      lease?.release();
    });

    const start = (granted: Lease) => {
      lease = granted;
      if (socket.destroyed) {
        granted.release();
        return;
      }
      onStart?.();
      if (connectTimeoutMs !== undefined) {
        connectTimer = setTimeout(() => {
          socket.destroy(new HalfOpenError(ErrorCodes.CONNECT_TIMEOUT, `Connect timeout (attempted address: ${target()}, timeout: ${connectTimeoutMs} ms)`));
        }, connectTimeoutMs);
      }
      if (this.#wants("started")) this.#publish("started", { ...base(), waitedMs: granted.waitedMs });
      try {
        socket.connect(netOptions);
        if (releaseHeld) releaseHeld();
        else if (timeout) socket.setTimeout(timeout);
      } catch (error) {
        socket.destroy(error as Error);
      }
    };
    const reject = (error: HalfOpenError) => {
      socket.destroy(error);
    };

    const enqueue = () => {
      if (socket.destroyed) return;
      lease = this.budget.request({ label: target, priority, signal, maxQueueMs, start, reject });
      if (lease.state !== "queued") return;
      if (!releaseHeld) hold();
      if (this.#wants("queued")) this.#publish("queued", { ...base(), priority: priority ?? 0 });
      if (lease.openedEpisode && this.#wants("limit-reached")) {
        this.#publish("limit-reached", { limiter: this.name, maxHalfOpen: this.budget.maxHalfOpen, inFlight: this.budget.inFlight, queued: this.budget.queued, target: target() });
      }
    };

    if (net.isIP(host) !== 0) {
      enqueue();
    } else {
      // Resolve now, outside the budget; hand Node the answer when the slot comes.
      hold();
      const resolve = options.lookup ?? (dnsLookup as unknown as NetLookup);
      resolve(host, { family: options.family, hints: options.hints, all: true }, (error, addresses) => {
        if (error) {
          socket.emit("lookup", error, undefined, undefined, host);
          socket.destroy(error);
          return;
        }
        const list = addresses as unknown as LookupAddress[];
        netOptions.lookup = ((_name, opts, callback) => {
          if (opts.all) (callback as (e: null, a: LookupAddress[]) => void)(null, list);
          else callback(null, list[0]!.address, list[0]!.family);
        }) as NetLookup;
        enqueue();
      });
    }
    return socket;
  }

  #wants(event: keyof LimiterEvents): boolean {
    return CHANNEL_OF[event].hasSubscribers || this.listenerCount(event) > 0;
  }

  #publish<K extends keyof LimiterEvents>(event: K, message: LimiterEvents[K][0]): void {
    const channel = CHANNEL_OF[event];
    if (channel.hasSubscribers) channel.publish(message);
    (this.emit as (e: K, m: LimiterEvents[K][0]) => boolean)(event, message);
  }
}
