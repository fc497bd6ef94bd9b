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
import { whenAborted } from "../core/abort-registry.js";
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { EventEmitter } from "node:events";
import type http from "node:http";
import type https from "node:https";
import net from "node:net";
import tls from "node:tls";
import { ErrorCodes, HalfOpenError } from "../errors.js";
import { HalfOpenBudget, type BudgetStats, type HalfOpenBudgetOptions, type Lease, type SlotRequest } from "../core/half-open-budget.js";
import type { Agent } from "undici";
import { LimitedHttpAgent, LimitedHttpsAgent } from "./agents.js";
import { limitedDispatcher, type LimitedDispatcherOptions } from "./dispatcher.js";
import { channels, type AttemptMessage, type EstablishedMessage, type FailedMessage, type LimitReachedMessage, type QueuedMessage, type StartedMessage } from "./channels.js";

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

/** What an attempt needs from its limiter (one object per limiter, not per attempt). */
interface LimiterHooks {
  readonly limiter: HalfOpenLimiter;
  readonly counts: { attempts: number; established: number; failed: number };
  readonly failures: Record<string, number>;
  wants(event: keyof LimiterEvents): boolean;
  publish<K extends keyof LimiterEvents>(event: K, message: LimiterEvents[K][0]): void;
}

const kAttempt = Symbol("halfopen.attempt");
type AttemptSocket = net.Socket & { [kAttempt]: ConnectAttempt };

function onSocketConnect(this: AttemptSocket): void {
  this[kAttempt].connected();
}

function onSocketClose(this: AttemptSocket): void {
  this[kAttempt].closed();
}

/**
 * One connect through the limiter: its lease, its timers, its events. A class
 * with shared listener functions, so an attempt costs one object, not a dozen
 * closures (the limiter must stay within 5% of plain net.connect).
 */
/** What one connect through the limiter is: where to, and its own bounds. */
interface ConnectAttemptOptions {
  netOptions: net.TcpNetConnectOpts;
  host: string;
  port: number;
  connectTimeoutMs?: number | undefined;
  timeout?: number | undefined;
  priority?: number | undefined;
  signal?: AbortSignal | undefined;
  maxQueueMs?: number | undefined;
  onStart?: (() => void) | undefined;
}

class ConnectAttempt implements SlotRequest {
  lease: Lease | undefined = undefined;
  isConnected = false;
  connectTimer: ReturnType<typeof setTimeout> | undefined = undefined;
  releaseHeld: (() => void) | undefined = undefined;
  onAbort: (() => void) | undefined = undefined;
  /** Takes onAbort back from the signal's shared listener. */
  offAbort: (() => void) | undefined = undefined;

  readonly netOptions: net.TcpNetConnectOpts;
  readonly host: string;
  readonly port: number;
  readonly connectTimeoutMs: number | undefined;
  readonly timeout: number | undefined;
  readonly priority: number | undefined;
  readonly signal: AbortSignal | undefined;
  readonly maxQueueMs: number | undefined;
  readonly onStart: (() => void) | undefined;

  constructor(
    readonly hooks: LimiterHooks,
    readonly socket: AttemptSocket,
    o: ConnectAttemptOptions,
  ) {
    this.netOptions = o.netOptions;
    this.host = o.host;
    this.port = o.port;
    this.connectTimeoutMs = o.connectTimeoutMs;
    this.timeout = o.timeout;
    this.priority = o.priority;
    this.signal = o.signal;
    this.maxQueueMs = o.maxQueueMs;
    this.onStart = o.onStart;
  }

  label(): string {
    return targetOf(this.host, this.port);
  }

  base(): AttemptMessage {
    const budget = this.hooks.limiter.budget;
    return { limiter: this.hooks.limiter.name, id: this.lease?.id ?? 0, target: this.label(), host: this.host, port: this.port, inFlight: budget.inFlight, queued: budget.queued };
  }

  /** Until the slot is granted, look like a socket whose DNS lookup is running. */
  hold(): void {
    (this.socket as { connecting: boolean }).connecting = true;
    this.releaseHeld = holdWhileQueued(this.socket, this.timeout, true);
  }

  enqueue(): void {
    if (this.socket.destroyed) return;
    const { limiter } = this.hooks;
    const lease = limiter.budget.request(this);
    this.lease = lease;
    if (lease.state !== "queued") return;
    if (!this.releaseHeld) this.hold();
    if (this.hooks.wants("queued")) this.hooks.publish("queued", { ...this.base(), priority: this.priority ?? 0 });
    if (lease.openedEpisode && this.hooks.wants("limit-reached")) {
      const budget = limiter.budget;
      this.hooks.publish("limit-reached", { limiter: limiter.name, maxHalfOpen: budget.maxHalfOpen, inFlight: budget.inFlight, queued: budget.queued, target: this.label() });
    }
  }

  /** SlotRequest: the budget grants a slot; connect now. */
  start(granted: Lease): void {
    this.lease = granted;
    const socket = this.socket;
    if (socket.destroyed) {
      granted.release();
      return;
    }
    this.onStart?.();
    if (this.connectTimeoutMs !== undefined) {
      this.connectTimer = setTimeout(() => {
        socket.destroy(new HalfOpenError(ErrorCodes.CONNECT_TIMEOUT, `Connect timeout (attempted address: ${this.label()}, timeout: ${this.connectTimeoutMs} ms)`));
      }, this.connectTimeoutMs);
    }
    if (this.hooks.wants("started")) this.hooks.publish("started", { ...this.base(), waitedMs: granted.waitedMs });
    try {
      socket.connect(this.netOptions);
      if (this.releaseHeld) this.releaseHeld();
      else if (this.timeout) socket.setTimeout(this.timeout);
    } catch (error) {
      socket.destroy(error as Error);
    }
  }

  /** SlotRequest: rejected before it started (aborted, queue timeout, queue full). */
  reject(error: HalfOpenError): void {
    this.socket.destroy(error);
  }

  abort(): void {
    if (this.lease?.state === "queued" || this.socket.destroyed) return; // the budget rejects queued ones itself
    const what = this.isConnected ? `Connection to ${this.label()} aborted` : `Connect attempt to ${this.label()} aborted while connecting`;
    this.socket.destroy(new HalfOpenError(ErrorCodes.ABORTED, what, { cause: this.signal?.reason }));
  }

  connected(): void {
    this.isConnected = true;
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.hooks.counts.established++;
    if (this.hooks.wants("established")) {
      const lease = this.lease;
      this.hooks.publish("established", { ...this.base(), waitedMs: lease?.waitedMs ?? 0, connectMs: this.hooks.limiter.budget.clock.now() - (lease?.startedAt ?? 0) });
    }
    this.lease?.release();
  }

  closed(): void {
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.offAbort?.();
    if (!this.isConnected) {
      const failure = this.socket.errored ?? undefined;
      const code = (failure as NodeJS.ErrnoException | undefined)?.code ?? "DESTROYED";
      this.hooks.counts.failed++;
      this.hooks.failures[code] = (this.hooks.failures[code] ?? 0) + 1;
      if (this.hooks.wants("failed")) this.hooks.publish("failed", { ...this.base(), code, error: failure, started: this.lease?.startedAt !== undefined });
    }
    this.lease?.release();
  }
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
  #fetchDispatcher: Agent | undefined;
  readonly #hooks: LimiterHooks = {
    limiter: this,
    counts: this.#counts,
    failures: this.#failures,
    wants: (event) => this.#wants(event),
    publish: (event, message) => this.#publish(event, message),
  };

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

  /**
   * An undici dispatcher whose connections go through this limiter: for
   * undici's own `fetch`/`request` (`fetch(url, { dispatcher })`). For Node's
   * global `fetch` use `limiter.fetch()`, which passes one for you: the global
   * `RequestInit` type has no `dispatcher` where the DOM library is loaded, and
   * Node's bundled undici types are not this undici's.
   */
  dispatcher(options?: LimitedDispatcherOptions): Agent {
    return limitedDispatcher(this, options);
  }

  /**
   * Node's global `fetch`, its new connections through this limiter (one
   * dispatcher per limiter, made on first use; `close()` closes it). Typed with
   * the global `fetch`'s own types, so it compiles under `tsc --strict` with or
   * without the DOM library.
   *
   * @example
   * ```ts
   * import http from "node:http";
   * import { once } from "node:events";
   * import type { AddressInfo } from "node:net";
   * import { HalfOpenLimiter } from "halfopen/limiter";
   * const server = http.createServer((req, res) => res.end(`hi ${req.url}`)).listen(0, "127.0.0.1");
   * await once(server, "listening");
   * const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
   * const limiter = new HalfOpenLimiter({ maxHalfOpen: 2 });
   * const texts = await Promise.all([1, 2, 3, 4, 5].map(async (i) => (await limiter.fetch(`${base}/${i}`)).text()));
   * if (texts[4] !== "hi /5" || limiter.stats().peakInFlight > 2) throw new Error(`unexpected: ${texts.join(",")}`);
   * await limiter.close();
   * server.close();
   * ```
   */
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
    this.#fetchDispatcher ??= this.dispatcher();
    // The one cast: undici's Agent against Node's bundled undici-types (see dispatcher()).
    return globalThis.fetch(input, { ...init, dispatcher: this.#fetchDispatcher } as unknown as RequestInit);
  }

  /** Closes the dispatcher `fetch()` made (its idle keep-alive connections); agents and dispatchers you made are yours to close. */
  async close(): Promise<void> {
    const d = this.#fetchDispatcher;
    this.#fetchDispatcher = undefined;
    await d?.close();
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
    const socket = new net.Socket(netOptions) as AttemptSocket;
    if (listener) socket.once("connect", listener);
    this.#counts.attempts++;
    const attempt = new ConnectAttempt(this.#hooks, socket, { netOptions, host, port, connectTimeoutMs, timeout, priority, signal, maxQueueMs, onStart });
    socket[kAttempt] = attempt;
    socket.on("connect", onSocketConnect);
    socket.on("close", onSocketClose);
    if (signal) {
      attempt.onAbort = () => attempt.abort();
      attempt.offAbort = whenAborted(signal, attempt.onAbort);
    }
    if (net.isIP(host) !== 0) {
      attempt.enqueue();
    } else {
      // Resolve now, outside the budget; hand Node the answer when the slot comes.
      attempt.hold();
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
        attempt.enqueue();
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
