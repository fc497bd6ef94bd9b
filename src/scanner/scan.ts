/**
 * The scanner: live hosts and open ports within a half-open budget.
 *
 *   targets ─► TargetSet (lazy, minus excludes, one shard)
 *     ─► discovery, 256 addresses at a time: ICMP echo and TCP ACK to 80 and 443 over raw
 *        sockets (native helper; no half-open slot), or what this process may use instead
 *     ─► up to `hostWindow` live hosts at once: port checks, at most `perHost` in flight per
 *        host (no host hammered)
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
 * Without CAP_NET_RAW, discovery falls back to ICMP through a Linux ping
 * socket plus connects to 80 and 443 for the hosts that stayed silent, or to
 * connects only (nmap's unprivileged discovery: an answer of either kind
 * means up), which do spend budget; the summary says which, once. IPv6
 * hosts are swept the same way (ICMPv6 echo and TCP ACK, `discover6`); where
 * IPv6 cannot be swept they are discovered by connect, said once.
 */
import { lookup } from "node:dns/promises";
import { setMaxListeners } from "node:events";
import { HalfOpenBudget } from "../core/half-open-budget.js";
import { addressToBigInt, DEFAULT_PORTS, formatAddress, TargetSet, parsePorts, parseTarget, type AddressRange, type Shard } from "../core/scan/targets.js";
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
  /**
   * How hosts are found up before their ports are checked. "auto" (default): ICMP echo and TCP ACK to 80 and
   * 443 over raw sockets (no half-open slot; needs CAP_NET_RAW), else ICMP through a Linux ping socket with
   * connects to 80 and 443 for the hosts that did not answer, else connects only. "connect": connects to 80
   * and 443 (nmap's unprivileged discovery, inside the budget). "none": every host is up (nmap -Pn).
   */
  discovery?: "auto" | "connect" | "none";
  /** Discovery probes sent per second (raw and ping sockets). Default 2000. */
  discoveryRate?: number;
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
  /** The targets already parsed and resolved (resolveTargets), so names are looked up once. */
  prepared?: PreparedTargets;
}

export type PreparedTargets = Awaited<ReturnType<typeof resolveTargets>>;

/** Refuses more than LARGE_SCAN addresses without confirmation; returns how many there are. */
export function checkScanSize(prepared: PreparedTargets, shard: Shard | undefined, allowLarge: boolean): number {
  const total = prepared.set.shardCount(shard);
  if (total > BigInt(LARGE_SCAN) && !allowLarge)
    throw new HalfOpenError(ErrorCodes.NEEDS_CONFIRMATION, `Cannot scan ${total.toLocaleString("en")} addresses without confirmation (more than ${LARGE_SCAN.toLocaleString("en")}): add --yes`);
  return Number(total);
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
  /** How it was found up: "echo-reply" (ICMP), "reset" (an ACK probe drew a RST), "syn-ack" or "conn-refused" on a discovery port, "user-set" with -Pn. */
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
  /** Addresses in the scan (this shard), and done so far (skipped ones included). */
  total: number;
  done: number;
  /** Addresses not scanned because `skip` held them (a resumed scan's finished hosts). */
  skipped: number;
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
  /** What discovery used: raw (ICMP and ACK), ping-socket (ICMP, then connects for the silent), connect, or none (-Pn). */
  discovery: "raw" | "ping-socket" | "connect" | "none";
  /** Why discovery fell back from raw sockets, said once (e.g. no CAP_NET_RAW). */
  discoveryNote?: string;
  /** Time spent in raw or ping-socket sweeps (the port checks of earlier hosts run meanwhile), ms. */
  discoveryMs: number;
  aborted: boolean;
  startedAt: number;
  elapsedMs: number;
}

/** The discovery ports of nmap's unprivileged ping. */
export const DISCOVERY_PORTS = [80, 443] as const;
export const DEFAULT_MAX_HALF_OPEN = 10;
export const LARGE_SCAN = 65_536;
/** Addresses per raw discovery sweep. */
const DISCOVERY_CHUNK = 256;
/**
 * Sweeps in flight at once. A sweep sends its probes, then waits for late
 * replies; the next one sends meanwhile (started when the previous one's
 * probes are out, so the rate stays `discoveryRate`). Each holds a libuv
 * thread while it runs: two leave the rest of the pool free.
 */
const DISCOVERY_OVERLAP = 2;

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
  const discoveryRate = options.discoveryRate ?? 2000;
  const ports = typeof options.ports === "string" ? parsePorts(options.ports) : [...(options.ports ?? DEFAULT_PORTS)];
  for (const p of ports) if (!(Number.isInteger(p) && p >= 1 && p <= 65535)) throw new HalfOpenError(ErrorCodes.BAD_TARGET, `Cannot scan port "${p}": ports are 1 to 65535`);
  if (ports.length === 0) throw new HalfOpenError(ErrorCodes.BAD_TARGET, "Cannot scan an empty port list");
  const maxHalfOpen = options.maxHalfOpen ?? DEFAULT_MAX_HALF_OPEN;
  const budget = new HalfOpenBudget({ maxHalfOpen });
  const discoveryOption = options.discovery ?? "auto";
  const retries = options.retries ?? 1;
  const localRetries = options.localRetries ?? 4;
  const hostWindow = options.hostWindow ?? 256;
  const perHost = options.perHost ?? 2;
  const rttOptions = options.rtt ?? NMAP_T3;
  const scanWide = new RttEstimator(rttOptions);
  const channel = new Channel<HostResult>();
  const controller = new AbortController();
  const onAbort = () => controller.abort();
  // Wake whatever waits in the discovery stage when the scan is stopped.
  const aborted: (() => void)[] = [];
  controller.signal.addEventListener("abort", () => aborted.forEach((f) => f()), { once: true });
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const signal = controller.signal;
  // Every probe in flight or queued listens for the abort.
  setMaxListeners(1_000_000, signal);
  const startedAt = Date.now();
  const t0 = performance.now();
  const summary: ScanSummary = {
    total: 0,
    done: 0,
    skipped: 0,
    up: 0,
    down: 0,
    open: 0,
    unknown: 0,
    probes: 0,
    retries: 0,
    localErrors: 0,
    peakInFlight: 0,
    discovery: discoveryOption === "none" ? "none" : "connect",
    discoveryMs: 0,
    aborted: false,
    startedAt,
    elapsedMs: 0,
  };

  /** One port, with retries: its final result. */
  const check = async (address: string, family: 4 | 6, port: number, est: RttEstimator): Promise<PortResult> => {
    let silent = 0;
    let local = 0;
    let last: ProbeResult | undefined;
    for (;;) {
      if (signal.aborted) return { port, state: "unknown", reason: "aborted" };
      summary.probes++;
      last = await probe({ budget, address, family, port, timeoutMs: () => est.timeoutMs(scanWide), signal, ...(options.bannerMs !== undefined ? { bannerMs: options.bannerMs } : {}) });
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

  /** `found`: discovery already answered for this host (raw or ping socket), or it is -Pn. */
  const scanHost = async (address: string, family: 4 | 6, names: string[] | undefined, found: { reason: string; rttMs?: number } | undefined): Promise<HostResult> => {
    const hostStarted = Date.now();
    const est = new RttEstimator(rttOptions);
    if (found?.rttMs !== undefined) est.sample(found.rttMs);
    const results = new Map<number, PortResult>();
    let status: "up" | "down" = "up";
    let reason = found?.reason ?? "user-set";
    if (!found) {
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

  /** A host whose discovery answered nothing: reported down at once. */
  const down = (address: string, family: 4 | 6, names: string[] | undefined, reason: string): HostResult => ({
    address,
    family,
    status: "down",
    reason,
    ports: [],
    startedAt: Date.now(),
    endedAt: Date.now(),
    ...(names ? { names } : {}),
  });

  const finish = (host: HostResult) => {
    summary.done++;
    if (host.status === "up") summary.up++;
    else summary.down++;
    for (const p of host.ports) {
      if (p.state === "open") summary.open++;
      if (p.state === "unknown") summary.unknown++;
    }
    channel.push(host);
  };

  const run = async () => {
    const prepared = options.prepared ?? (await resolveTargets(options));
    const { set, names } = prepared;
    summary.total = checkScanSize(prepared, options.shard, options.allowLarge === true);
    const addresses = set.addresses(options.shard);
    // Discovery (a stage of its own) feeds hosts to the port-scanning workers through `ready`.
    type Ready = { address: string; family: 4 | 6; found: { reason: string; rttMs?: number } | undefined };
    const ready: Ready[] = [];
    let readyHead = 0;
    let produced = false;
    // Workers waiting for a host, and the producer waiting for room.
    let waiting: (() => void)[] = [];
    let space: (() => void) | undefined;
    const wakeAll = () => {
      const w = waiting;
      waiting = [];
      for (const f of w) f();
    };
    const push = (r: Ready) => {
      ready.push(r);
      waiting.shift()?.();
    };
    const take = async (): Promise<Ready | undefined> => {
      for (;;) {
        if (readyHead < ready.length) {
          const r = ready[readyHead++] as Ready;
          if (readyHead > 4096) {
            ready.splice(0, readyHead);
            readyHead = 0;
          }
          space?.();
          space = undefined;
          return r;
        }
        if (produced || signal.aborted) return undefined;
        await new Promise<void>((r) => waiting.push(r));
      }
    };
    aborted.push(() => {
      wakeAll();
      space?.();
    });
    const waitForSpace = async () => {
      while (ready.length - readyHead >= hostWindow * 2 && !signal.aborted) await new Promise<void>((r) => (space = r));
    };
    let raw: RawDiscovery | undefined;
    if (discoveryOption === "auto") {
      raw = await rawDiscovery();
      summary.discovery = raw.mode ?? "connect";
      if (raw.note) summary.discoveryNote = raw.note;
    }
    const producer = async () => {
      const chunk: { address: string; family: 4 | 6 }[] = [];
      type Sweep = { batch: { address: string; family: 4 | 6 }[]; answered: Promise<SweepResult> };
      const sweeps: Sweep[] = [];
      // Discovery time: the wall time with at least one sweep running.
      let active = 0;
      let activeSince = 0;
      let nextSendAt = 0;
      const startSweep = async () => {
        if (chunk.length === 0) return;
        const batch = chunk.splice(0);
        if (!raw?.sweep) {
          sweeps.push({ batch, answered: Promise.resolve({ answered: new Map() }) });
          return;
        }
        // Not before the previous sweep's probes are out: sweeps overlap in their waits, not their sends.
        const wait = nextSendAt - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        nextSendAt = performance.now() + (batch.length * 1000) / discoveryRate;
        if (active++ === 0) activeSince = performance.now();
        const answered = raw.sweep(
          batch.map((h) => h.address),
          Math.max(500, scanWide.timeoutMs()),
        ).finally(() => {
          if (--active === 0) summary.discoveryMs += performance.now() - activeSince;
        });
        answered.catch(() => undefined); // awaited in order below
        sweeps.push({ batch, answered });
      };
      /** The oldest sweep's hosts, in address order: up ones to the port checks. */
      const takeSweep = async () => {
        const sweep = sweeps.shift();
        if (!sweep) return;
        const { answered, v6Failed } = await sweep.answered;
        if (v6Failed && !summary.discoveryNote) summary.discoveryNote = `IPv6 hosts are discovered by connect to 80 and 443, inside the budget (${v6Failed})`;
        for (const h of sweep.batch) {
          if (signal.aborted) return;
          const hit = answered.get(h.address);
          if (hit) {
            scanWide.sample(hit.rttMs);
            push({ ...h, found: hit });
          } else if (raw?.mode === "raw" && !(h.family === 6 && v6Failed)) finish(down(h.address, h.family, names.get(h.address), "no-response"));
          // Connect discovery: no raw sockets, a ping socket's silent host, or IPv6 that could not be swept.
          else push({ ...h, found: undefined });
          await waitForSpace();
        }
      };
      const flush = async () => {
        await startSweep();
        while (sweeps.length >= DISCOVERY_OVERLAP) await takeSweep();
      };
      for (;;) {
        if (signal.aborted) break;
        const next = addresses.next();
        if (next.done) break;
        const { address, family } = next.value;
        if (options.skip?.has(address)) {
          summary.done++;
          summary.skipped++;
          continue;
        }
        if (discoveryOption === "none") {
          push({ address, family, found: { reason: "user-set" } });
          await waitForSpace();
          continue;
        }
        chunk.push({ address, family });
        if (chunk.length >= DISCOVERY_CHUNK) await flush();
      }
      await startSweep();
      while (sweeps.length > 0 && !signal.aborted) await takeSweep();
      produced = true;
      wakeAll();
    };
    const hostWorker = async () => {
      for (;;) {
        const r = await take();
        if (!r || signal.aborted) return;
        const host = await scanHost(r.address, r.family, names.get(r.address), r.found);
        if (signal.aborted && host.ports.some((p) => p.reason === "aborted")) return;
        finish(host);
      }
    };
    await Promise.all([producer(), ...Array.from({ length: Math.max(1, Math.min(hostWindow, summary.total)) }, hostWorker)]);
  };

  interface SweepResult {
    answered: Map<string, { reason: string; rttMs: number }>;
    /** Why IPv6 addresses could not be swept (no IPv6 ping socket, ...): they are found by connect. */
    v6Failed?: string;
  }
  interface RawDiscovery {
    mode?: "raw" | "ping-socket";
    note?: string;
    sweep?: (addresses: string[], timeoutMs: number) => Promise<SweepResult>;
  }

  /** Raw sockets (or a ping socket) if this process may use them; else why not. */
  const rawDiscovery = async (): Promise<RawDiscovery> => {
    const helper = process.platform === "linux" ? (await import("../platform/linux/native.js")).loadNative() : undefined;
    if (!helper) return { note: "no native helper: discovering hosts by connect to 80 and 443, inside the budget" };
    const sourcePort = 40_000 + (process.pid % 20_000);
    const sweep = async (list: string[], timeoutMs: number): Promise<SweepResult> => {
      const v4 = list.filter((a) => !a.includes(":"));
      const v6 = list.filter((a) => a.includes(":"));
      // Both families at once share the rate.
      const options = (n: number) => ({ icmp: true, ackPorts: [...DISCOVERY_PORTS], timeoutMs, perSecond: (discoveryRate * n) / list.length, sourcePort });
      const value = (a: string) => addressToBigInt(a)?.value ?? 0n;
      const bytes = new Uint8Array(v6.length * 16);
      v6.forEach((a, i) => {
        let v = value(a);
        for (let j = 15; j >= 0; j--, v >>= 8n) bytes[i * 16 + j] = Number(v & 255n);
      });
      const reason = (kind: number | undefined) => (kind === 1 ? "echo-reply" : "reset");
      const [four, six] = await Promise.all([
        v4.length > 0 ? helper.discover(Uint32Array.from(v4.map((a) => Number(value(a)))), options(v4.length)) : undefined,
        v6.length > 0 ? helper.discover6(bytes, options(v6.length)).catch((e: NodeJS.ErrnoException) => new Error(`no IPv6 ${e.code === "EPERM" ? "ping socket" : "raw socket"}: ${e.code ?? e.message}`)) : undefined,
      ]);
      const answered = new Map<string, { reason: string; rttMs: number }>();
      const replies = four?.replies ?? [];
      for (let i = 0; i + 2 < replies.length; i += 3) {
        const n = replies[i] as number;
        answered.set(formatAddress(4, BigInt(n)), { reason: reason(replies[i + 1]), rttMs: replies[i + 2] as number });
      }
      if (six instanceof Error) return { answered, v6Failed: six.message };
      const r6 = six?.replies ?? [];
      for (let i = 0; i + 2 < r6.length; i += 3) answered.set(v6[r6[i] as number] as string, { reason: reason(r6[i + 1]), rttMs: r6[i + 2] as number });
      return { answered };
    };
    // One probe to learn what this process may open (to 127.0.0.1: nothing leaves the host).
    try {
      const { mode } = await helper.discover(Uint32Array.of(0x7f000001), { icmp: true, ackPorts: [], timeoutMs: 0, perSecond: 0, sourcePort });
      return mode === "raw" ? { mode, sweep } : { mode, sweep, note: "no CAP_NET_RAW: ICMP through a ping socket, then connects to 80 and 443 for hosts that did not answer (no ACK probes)" };
    } catch (e) {
      return { note: `no CAP_NET_RAW and no ping socket (${(e as NodeJS.ErrnoException).code ?? "error"}; net.ipv4.ping_group_range): discovering hosts by connect to 80 and 443, inside the budget` };
    }
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
    summary: () => ({ ...summary, peakInFlight: budget.stats().peakInFlight, elapsedMs: summary.elapsedMs || performance.now() - t0, aborted: signal.aborted }),
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
