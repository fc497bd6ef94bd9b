/**
 * The scanner: live hosts and open ports within a half-open budget.
 *
 *   targets ─► TargetSet (lazy, minus excludes, one shard) ─► up to `hostWindow` hosts at once
 *     each host: discovery (connects to 80 and 443, or none with -Pn) ─► port checks,
 *                at most `perHost` in flight per host (no host hammered)
 *     every connect: probe() inside one HalfOpenBudget (≤ maxHalfOpen in SYN_SENT, the rest
 *                queued FIFO, so hosts take turns; the timeout starts at the grant)
 *   ─► results, one per host as it finishes, through an async iterator
 *
 * Timeouts follow nmap's RTT estimator (core/scan/timing.ts), per host with
 * the scan-wide estimate as fallback; silence is retried `retries` times and
 * then reported filtered; local errors (EMFILE, EADDRNOTAVAIL, ENOBUFS) are
 * retried with a back-off and reported `unknown` if they persist, never
 * closed.
 *
 * Discovery spends budget today: TCP connects to 80 and 443 (nmap's
 * unprivileged discovery; an answer of either kind means up). ICMP and
 * TCP ACK discovery over raw sockets are not built yet.
 */
import { lookup } from "node:dns/promises";
import { HalfOpenBudget } from "../core/half-open-budget.js";
import { DEFAULT_PORTS, TargetSet, parsePorts, parseTarget, type AddressRange, type Shard } from "../core/scan/targets.js";
import { NMAP_T3, RttEstimator, outcomeOf, type PortState, type RttOptions } from "../core/scan/timing.js";
import { ErrorCodes, HalfOpenError } from "../errors.js";
import { probe, type ProbeResult } from "./probe.js";

export interface ScanOptions {
  /** Addresses, CIDR blocks, ranges ("198.18.0.1-40", "198.18.0.1-198.18.1.7") or host names. */
  targets: readonly string[];
  exclude?: readonly string[];
  /** Port numbers, or a list as written ("22,80,8000-8100", "-" for all). Default DEFAULT_PORTS (nmap's top 20). */
  ports?: readonly number[] | string;
  /** Connect attempts in SYN_SENT at once, the whole scan. Default 10. */
  maxHalfOpen?: number;
  /** "connect": connects to 80 and 443 first, only hosts that answer are port-scanned; "none": every host is (nmap -Pn). Default "connect". */
  discovery?: "connect" | "none";
  /** Attempts again after silence. Default 1. */
  retries?: number;
  /** Attempts again after a local error (EMFILE, ...). Default 4. */
  localRetries?: number;
  /** Read what open ports say first, for at most this long (ms). */
  bannerMs?: number;
  /** Scan shard k of n. */
  shard?: Shard;
  /** nmap's timing bounds. Default T3: initial 1000 ms, min 100, max 10000. */
  rtt?: RttOptions;
  /** Hosts scanned at once. Default 256. */
  hostWindow?: number;
  /** Probes in flight per host. Default 2. */
  perHost?: number;
  /** Stops the scan: queued probes are dropped, in-flight ones destroyed; the iterator ends after the hosts already finished. */
  signal?: AbortSignal;
  /** Refuse more than 65,536 addresses unless this is set. */
  allowLarge?: boolean;
  /** Host names to addresses (default: the system resolver, every address). */
  resolve?: (name: string) => Promise<string[]>;
  /** Skip these addresses (already scanned: --resume). */
  skip?: ReadonlySet<string>;
}

export interface PortResult {
  port: number;
  state: PortState;
  /** Why: syn-ack, conn-refused, no-response, host-unreach, admin-prohibited, or the local error. */
  reason: string;
  /** Time to the answer, ms, when there was one. */
  rttMs?: number;
  banner?: string;
}

export interface HostResult {
  address: string;
  family: 4 | 6;
  /** up: it answered; down: discovery got no answer (its ports were not checked). */
  status: "up" | "down";
  /** How it was found up: "syn-ack" or "conn-refused" on a discovery port, "user-set" with -Pn. */
  reason: string;
  /** The names it was given as, when it came from a host name. */
  names?: string[];
  ports: PortResult[];
  /** nmap's estimate for the host at the end, ms. */
  times?: { srttMs: number; rttvarMs: number; timeoutMs: number };
  startedAt: number;
  endedAt: number;
}

export interface ScanSummary {
  /** Addresses in the scan (this shard), and done so far. */
  total: number;
  done: number;
  up: number;
  down: number;
  open: number;
  /** Ports reported unknown (local errors that persisted). */
  unknown: number;
  /** Connect attempts made, and retries among them. */
  probes: number;
  retries: number;
  localErrors: number;
  peakInFlight: number;
  discovery: "connect" | "none";
  aborted: boolean;
  startedAt: number;
  elapsedMs: number;
}

/** The discovery ports of nmap's unprivileged ping. */
export const DISCOVERY_PORTS = [80, 443] as const;
export const DEFAULT_MAX_HALF_OPEN = 10;
export const LARGE_SCAN = 65_536;

/** A scan in progress: iterate it for hosts as they finish; `summary()` at any time. */
export interface Scan extends AsyncIterable<HostResult> {
  summary(): ScanSummary;
  readonly ports: readonly number[];
}

/** An async queue: the engine pushes, the iterator pulls. */
class Channel<T> {
  #items: T[] = [];
  #waiting: ((r: IteratorResult<T>) => void) | undefined;
  #closed = false;
  push(item: T): void {
    const w = this.#waiting;
    if (w) {
      this.#waiting = undefined;
      w({ value: item, done: false });
    } else this.#items.push(item);
  }
  close(): void {
    this.#closed = true;
    const w = this.#waiting;
    this.#waiting = undefined;
    w?.({ value: undefined, done: true });
  }
  next(): Promise<IteratorResult<T>> {
    const item = this.#items.shift();
    if (item !== undefined) return Promise.resolve({ value: item, done: false });
    if (this.#closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((r) => (this.#waiting = r));
  }
}

/** Parses and resolves the targets: the set to scan, and the names each address was given as. */
export async function resolveTargets(o: Pick<ScanOptions, "targets" | "exclude" | "resolve">): Promise<{ set: TargetSet; names: Map<string, string[]> }> {
  const resolve = o.resolve ?? (async (name: string) => (await lookup(name, { all: true })).map((a) => a.address));
  const names = new Map<string, string[]>();
  const ranges = async (list: readonly string[]) => {
    const out: AddressRange[] = [];
    for (const text of list) {
      const spec = parseTarget(text);
      if (spec.kind === "range") {
        out.push(spec.range);
        continue;
      }
      let addresses: string[];
      try {
        addresses = await resolve(spec.name);
      } catch (e) {
        throw new HalfOpenError(ErrorCodes.BAD_TARGET, `Cannot scan "${spec.name}": it does not resolve (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
      if (addresses.length === 0) throw new HalfOpenError(ErrorCodes.BAD_TARGET, `Cannot scan "${spec.name}": it resolves to no address`);
      for (const a of addresses) {
        const r = parseTarget(a);
        if (r.kind !== "range") continue;
        out.push(r.range);
        names.set(a, [...(names.get(a) ?? []), spec.name]);
      }
    }
    return out;
  };
  const set = new TargetSet(await ranges(o.targets), await ranges(o.exclude ?? []));
  return { set, names };
}

/**
 * Scan. Validation and name resolution happen before the first host is
 * yielded; a bad target rejects the first `next()` with HALFOPEN_BAD_TARGET.
 *
 * @example
 * ```ts
 * import { scan } from "halfopen/scanner";
 * for await (const host of scan({ targets: ["127.0.0.1"], ports: "1-1024", discovery: "none" }))
 *   for (const p of host.ports) if (p.state === "open") console.log(host.address, p.port);
 * ```
 */
export function scan(options: ScanOptions): Scan {
  const ports = typeof options.ports === "string" ? parsePorts(options.ports) : [...(options.ports ?? DEFAULT_PORTS)];
  for (const p of ports) if (!(Number.isInteger(p) && p >= 1 && p <= 65535)) throw new HalfOpenError(ErrorCodes.BAD_TARGET, `Cannot scan port "${p}": ports are 1 to 65535`);
  if (ports.length === 0) throw new HalfOpenError(ErrorCodes.BAD_TARGET, "Cannot scan an empty port list");
  const maxHalfOpen = options.maxHalfOpen ?? DEFAULT_MAX_HALF_OPEN;
  const budget = new HalfOpenBudget({ maxHalfOpen });
  const discovery = options.discovery ?? "connect";
  const retries = options.retries ?? 1;
  const localRetries = options.localRetries ?? 4;
  const hostWindow = options.hostWindow ?? 256;
  const perHost = options.perHost ?? 2;
  const rttOptions = options.rtt ?? NMAP_T3;
  const scanWide = new RttEstimator(rttOptions);
  const channel = new Channel<HostResult>();
  const controller = new AbortController();
  const onAbort = () => controller.abort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const signal = controller.signal;
  const startedAt = Date.now();
  const t0 = performance.now();
  const summary: ScanSummary = { total: 0, done: 0, up: 0, down: 0, open: 0, unknown: 0, probes: 0, retries: 0, localErrors: 0, peakInFlight: 0, discovery, aborted: false, startedAt, elapsedMs: 0 };

  /** One port, with retries: its final result. */
  const check = async (address: string, family: 4 | 6, port: number, est: RttEstimator): Promise<PortResult> => {
    let silent = 0;
    let local = 0;
    let last: ProbeResult | undefined;
    for (;;) {
      if (signal.aborted) return { port, state: "unknown", reason: "aborted" };
      summary.probes++;
      last = await probe({ budget, address, family, port, timeoutMs: () => est.timeoutMs(scanWide), signal, ...(options.bannerMs !== undefined ? { bannerMs: options.bannerMs } : {}) });
      summary.peakInFlight = Math.max(summary.peakInFlight, budget.stats().peakInFlight);
      if (last.code === "ABORTED") return { port, state: "unknown", reason: "aborted" };
      const outcome = outcomeOf(last.code);
      if (outcome.kind === "final") {
        if (outcome.state === "open" || outcome.state === "closed") {
          est.sample(last.rttMs);
          if (est !== scanWide) scanWide.sample(last.rttMs);
        }
        return { port, state: outcome.state, reason: outcome.reason, ...(outcome.state === "open" || outcome.state === "closed" ? { rttMs: last.rttMs } : {}), ...(last.banner !== undefined ? { banner: last.banner } : {}) };
      }
      if (outcome.kind === "silent") {
        if (silent++ >= retries) return { port, state: "filtered", reason: "no-response" };
      } else {
        summary.localErrors++;
        if (local++ >= localRetries) return { port, state: "unknown", reason: outcome.reason };
        // Back off: something else must free the descriptor, port or buffer.
        await new Promise((r) => setTimeout(r, 50 * 2 ** local));
      }
      summary.retries++;
    }
  };

  const scanHost = async (address: string, family: 4 | 6, names: string[] | undefined): Promise<HostResult> => {
    const hostStarted = Date.now();
    const est = new RttEstimator(rttOptions);
    const results = new Map<number, PortResult>();
    let status: "up" | "down" = "up";
    let reason = "user-set";
    if (discovery === "connect") {
      const pings = await Promise.all(DISCOVERY_PORTS.map((port) => check(address, family, port, est)));
      const answered = pings.find((p) => p.state === "open" || p.state === "closed");
      if (answered) {
        reason = answered.reason;
        for (const p of pings) if (ports.includes(p.port)) results.set(p.port, p);
      } else {
        status = "down";
        reason = pings.some((p) => p.reason === "host-unreach") ? "host-unreach" : "no-response";
      }
    }
    if (status === "up") {
      const todo = ports.filter((p) => !results.has(p));
      let next = 0;
      const worker = async () => {
        while (next < todo.length && !signal.aborted) {
          const port = todo[next++] as number;
          results.set(port, await check(address, family, port, est));
        }
      };
      await Promise.all(Array.from({ length: Math.min(perHost, todo.length) }, worker));
    }
    const portList = ports.filter((p) => results.has(p)).map((p) => results.get(p) as PortResult);
    const host: HostResult = { address, family, status, reason, ports: status === "up" ? portList : [], startedAt: hostStarted, endedAt: Date.now() };
    if (names) host.names = names;
    if (est.srtt !== undefined) host.times = { srttMs: est.srtt, rttvarMs: est.rttvar, timeoutMs: est.timeoutMs() };
    return host;
  };

  const run = async () => {
    const { set, names } = await resolveTargets(options);
    const total = set.shardCount(options.shard);
    if (total > BigInt(LARGE_SCAN) && !options.allowLarge)
      throw new HalfOpenError(ErrorCodes.NEEDS_CONFIRMATION, `Cannot scan ${total.toLocaleString("en")} addresses without confirmation (more than ${LARGE_SCAN.toLocaleString("en")}): add --yes`);
    summary.total = Number(total);
    const addresses = set.addresses(options.shard);
    const hostWorker = async () => {
      for (;;) {
        if (signal.aborted) return;
        const next = addresses.next();
        if (next.done) return;
        const { address, family } = next.value;
        if (options.skip?.has(address)) {
          summary.done++;
          continue;
        }
        const host = await scanHost(address, family, names.get(address));
        if (signal.aborted && host.ports.some((p) => p.reason === "aborted")) return;
        summary.done++;
        if (host.status === "up") summary.up++;
        else summary.down++;
        for (const p of host.ports) {
          if (p.state === "open") summary.open++;
          if (p.state === "unknown") summary.unknown++;
        }
        channel.push(host);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(hostWindow, summary.total)) }, hostWorker));
  };

  let failure: unknown;
  let started = false;
  const start = () => {
    if (started) return;
    started = true;
    run()
      .catch((e: unknown) => {
        failure = e;
      })
      .finally(() => {
        summary.aborted = signal.aborted;
        summary.elapsedMs = performance.now() - t0;
        options.signal?.removeEventListener("abort", onAbort);
        channel.close();
      });
  };

  return {
    ports,
    summary: () => ({ ...summary, elapsedMs: summary.elapsedMs || performance.now() - t0, aborted: signal.aborted }),
    [Symbol.asyncIterator](): AsyncIterator<HostResult> {
      start();
      return {
        next: async () => {
          const r = await channel.next();
          if (r.done && failure !== undefined) {
            const e = failure;
            failure = undefined;
            throw e;
          }
          return r;
        },
        return: async () => {
          controller.abort();
          return { value: undefined, done: true };
        },
      };
    },
  };
}
