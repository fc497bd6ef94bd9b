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
 *
 * The rooms: this file wires a scan (options, summary, the iterator);
 * discovery-stage.ts walks and sweeps the targets; raw-discovery.ts speaks to
 * the platform's helper (platform/select.ts chooses it); host-queue.ts is the
 * bounded queue between the stages; host-check.ts checks a host's ports;
 * channel.ts hands results to the caller; types.ts holds the public types.
 */
import { lookup } from "node:dns/promises";
import { setMaxListeners } from "node:events";
import { HalfOpenBudget } from "../core/half-open-budget.js";
import { DEFAULT_PORTS, TargetSet, parsePorts, parseTarget, type AddressRange, type Shard } from "../core/scan/targets.js";
import { NMAP_T3, RttEstimator } from "../core/scan/timing.js";
import { ErrorCodes, HalfOpenError } from "../errors.js";
import { loadHostDiscovery } from "../platform/select.js";
import { Channel } from "./channel.js";
import { runDiscovery, type ReadyHost } from "./discovery-stage.js";
import { HostCheck } from "./host-check.js";
import { HostQueue } from "./host-queue.js";
import { openRawDiscovery, type RawDiscovery } from "./raw-discovery.js";
import type { HostResult, Scan, ScanOptions, ScanSummary } from "./types.js";

export type { HostResult, PortResult, Scan, ScanOptions, ScanSummary } from "./types.js";
export { DISCOVERY_PORTS } from "./raw-discovery.js";

export type PreparedTargets = Awaited<ReturnType<typeof resolveTargets>>;

/** Refuses more than LARGE_SCAN addresses without confirmation; returns how many there are. */
export function checkScanSize(prepared: PreparedTargets, shard: Shard | undefined, allowLarge: boolean): number {
  const total = prepared.set.shardCount(shard);
  if (total > BigInt(LARGE_SCAN) && !allowLarge)
    throw new HalfOpenError(ErrorCodes.NEEDS_CONFIRMATION, `Cannot scan ${total.toLocaleString("en")} addresses without confirmation (more than ${LARGE_SCAN.toLocaleString("en")}): add --yes`);
  return Number(total);
}

export const DEFAULT_MAX_HALF_OPEN = 10;
export const LARGE_SCAN = 65_536;

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
  const ports = checkPorts(options.ports, options.discovery ?? "auto");
  const budget = new HalfOpenBudget({ maxHalfOpen: options.maxHalfOpen ?? DEFAULT_MAX_HALF_OPEN, ...(options.releasePerSecond === undefined ? {} : { releasePerSecond: options.releasePerSecond }) });
  const scanWide = new RttEstimator(options.rtt ?? NMAP_T3);
  const channel = new Channel<HostResult>();
  const controller = new AbortController();
  const onAbort = () => controller.abort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const signal = controller.signal;
  // Every probe in flight or queued listens for the abort.
  setMaxListeners(1_000_000, signal);
  const t0 = performance.now();
  const summary = emptySummary(options.discovery ?? "auto", Date.now());
  let failure: unknown;
  let started = false;
  const start = () => {
    if (started) return;
    started = true;
    runScan({ options, ports, budget, scanWide, signal, summary, finish: (host) => finishHost(summary, channel, host) })
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

/** The ports asked for, checked: 1-65535; none is a discovery-only scan (nmap -sn), which needs discovery. */
function checkPorts(given: ScanOptions["ports"], discovery: NonNullable<ScanOptions["discovery"]>): number[] {
  const ports = typeof given === "string" ? parsePorts(given) : [...(given ?? DEFAULT_PORTS)];
  for (const p of ports) if (!(Number.isInteger(p) && p >= 1 && p <= 65535)) throw new HalfOpenError(ErrorCodes.BAD_TARGET, `Cannot scan port "${p}": ports are 1 to 65535`);
  if (ports.length === 0 && discovery === "none") throw new HalfOpenError(ErrorCodes.BAD_TARGET, "Cannot scan no ports without discovery: that finds nothing (-sn with -Pn)");
  return ports;
}

function emptySummary(discovery: "auto" | "connect" | "none", startedAt: number): ScanSummary {
  return { total: 0, done: 0, skipped: 0, up: 0, down: 0, open: 0, unknown: 0, probes: 0, retries: 0, localErrors: 0, peakInFlight: 0, discovery: discovery === "none" ? "none" : "connect", discoveryMs: 0, aborted: false, startedAt, elapsedMs: 0 };
}

/** A finished host: counted, and handed to the caller. */
function finishHost(summary: ScanSummary, channel: Channel<HostResult>, host: HostResult): void {
  summary.done++;
  if (host.status === "up") summary.up++;
  else summary.down++;
  for (const p of host.ports) {
    if (p.state === "open") summary.open++;
    if (p.state === "unknown") summary.unknown++;
  }
  channel.push(host);
}

interface Run {
  options: ScanOptions;
  ports: readonly number[];
  budget: HalfOpenBudget;
  scanWide: RttEstimator;
  signal: AbortSignal;
  summary: ScanSummary;
  finish: (host: HostResult) => void;
}

/** The two stages: discovery feeds hosts through a bounded queue to `hostWindow` port-checking workers. */
async function runScan({ options, ports, budget, scanWide, signal, summary, finish }: Run): Promise<void> {
  const prepared = options.prepared ?? (await resolveTargets(options));
  const { set, names } = prepared;
  summary.total = checkScanSize(prepared, options.shard, options.allowLarge === true);
  const hostWindow = options.hostWindow ?? 256;
  const queue = new HostQueue<ReadyHost>(hostWindow * 2);
  signal.addEventListener("abort", () => queue.abort(), { once: true });
  const mode = options.discovery ?? "auto";
  let raw: RawDiscovery | undefined;
  if (mode === "auto") {
    raw = await openRawDiscovery(await loadHostDiscovery(), options.discoveryRate ?? 2000);
    summary.discovery = raw.mode ?? "connect";
    if (raw.note) summary.discoveryNote = raw.note;
  }
  const check = new HostCheck({ budget, ports, retries: options.retries ?? 1, localRetries: options.localRetries ?? 4, perHost: options.perHost ?? 2, rtt: options.rtt ?? NMAP_T3, signal, scanWide, summary, ...(options.bannerMs !== undefined ? { bannerMs: options.bannerMs } : {}) });
  const worker = async () => {
    for (;;) {
      const r = await queue.take();
      if (!r || signal.aborted) return;
      const host = await check.host(r.address, r.family, names.get(r.address), r.found);
      if (signal.aborted && host.ports.some((p) => p.reason === "aborted")) return;
      finish(host);
    }
  };
  const discovery = runDiscovery({ addresses: set.addresses(options.shard), mode, raw, rate: options.discoveryRate ?? 2000, ...(options.skip ? { skip: options.skip } : {}), names, queue, scanWide, signal, summary, finish });
  await Promise.all([discovery, ...Array.from({ length: Math.max(1, Math.min(hostWindow, summary.total)) }, worker)]);
}
