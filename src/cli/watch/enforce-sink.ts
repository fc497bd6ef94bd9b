/**
 * `watch --enforce N`: the enforcer (core/enforce/enforcer.ts, one of the
 * monitor's detectors, so it learns who each attempt is and when it ends)
 * fed with the SYNs the OS holds (platform: loadEnforcement), as a sink
 * because it holds a resource: the queue and its rules, acquired in open()
 * and released in close() on every exit path (rules first, then every held
 * SYN let go, then the queue). Its findings (hold episodes, containment) are
 * published like the monitor's; its counters go into the stop record.
 *
 * Why `watch --enforce` and not a command of its own: the enforcer needs
 * what watch already has, the live attempts with their processes and ends
 * (a slot frees when an attempt leaves SYN_SENT), and its users need what
 * watch already gives: incidents naming the culprits, verdicts, the store,
 * metrics and the dashboard.
 *
 * Needs: the platform's enforcement (Linux: root, the native helper, nft or iptables).
 */
import { type EnforceStop, Enforcer } from "../../core/enforce/enforcer.js";
import type { ProcessInfo } from "../../core/events.js";
import type { GateClock } from "../../core/sim/gate.js";
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import type { Enforcement } from "../../platform/host.js";
import { loadEnforcement } from "../../platform/select.js";
import type { WatchOptions } from "./command.js";
import type { FinishFacts, Sink, StartFacts, WatchItem } from "./sink.js";

/**
 * Real time on the source's clock, with timers that never keep the process
 * alive. Node may run a timer a fraction of a millisecond before it is due
 * on this clock (its loop time is whole milliseconds); a timer that would
 * run early waits the rest, so a gate's fixed rate is never run twice in one
 * period.
 */
function sourceClock(now: () => number): GateClock {
  const at = (time: number, fn: () => void): { t?: NodeJS.Timeout } => {
    const timer: { t?: NodeJS.Timeout } = {};
    const run = () => {
      const left = time - now();
      if (left > 0) timer.t = setTimeout(run, Math.ceil(left)).unref();
      else fn();
    };
    timer.t = setTimeout(run, Math.ceil(Math.max(0, time - now()))).unref();
    return timer;
  };
  return {
    now,
    setTimer: (fn, ms) => at(now() + Math.max(0, ms), fn),
    clearTimer: (h) => clearTimeout((h as { t?: NodeJS.Timeout }).t),
    at,
  };
}

export interface EnforceSinkOptions {
  opts: WatchOptions;
  now: () => number;
  trusted?: (p: ProcessInfo) => boolean;
  publish: (item: WatchItem) => void;
}

export class EnforceSink implements Sink {
  readonly name = "enforce";
  readonly enforcer: Enforcer;
  readonly #o: EnforceSinkOptions;
  #enforcement?: Enforcement;

  constructor(o: EnforceSinkOptions) {
    this.#o = o;
    const { opts } = o;
    const contain = opts.containScanners === true ? 1 : opts.containScanners;
    this.enforcer = new Enforcer({
      limit: opts.enforce as number,
      per: opts.per,
      ...(opts.releaseRate === undefined ? {} : { releasePerSecond: opts.releaseRate }),
      clock: sourceClock(o.now),
      verdict: (id, accept) => this.#enforcement?.verdict(id, accept),
      ...(o.trusted ? { trusted: o.trusted } : {}),
      selfPid: process.pid,
      ...(opts.enforceDryRun ? { dryRun: true } : {}),
      ...(contain === undefined ? {} : { containLimit: contain }),
      ...(opts.metricsPort === undefined ? {} : { keepWaits: true }),
      // SYNs of the enforced namespace pass the queue; loopback ones only with --enforce-loopback.
      holdable: (a) => a.process.netns === this.#enforcement?.netnsInode && (opts.enforceLoopback === true || (!isLoopback(a.dst.address) && a.src.address !== a.dst.address)),
    });
  }

  async open(): Promise<StartFacts> {
    const open = await loadEnforcement();
    if (!open) throw new HalfOpenError(ErrorCodes.ENFORCE_UNAVAILABLE, "--enforce holds SYNs on Linux only (NFQUEUE)");
    const { opts } = this.#o;
    const netns = opts.netns?.[0];
    const e = open({
      queueNum: opts.queueNum,
      maxLen: opts.queueMax,
      loopback: opts.enforceLoopback === true,
      ...(netns === undefined ? {} : { netnsPath: `/run/netns/${netns}` }),
    });
    this.#enforcement = e;
    e.start((packets, readAtMs) => {
      this.enforcer.queueReadAt(readAtMs);
      for (const { packet, accepted } of packets) {
        const found = this.enforcer.packet(packet, accepted);
        for (const finding of found) this.#o.publish({ kind: "finding", finding, emittedAt: this.#o.now() });
      }
      e.grant(this.enforcer.fastFree());
    });
    e.grant(this.enforcer.fastFree());
    const o = this.enforcer.options;
    return {
      enforce: {
        limit: o.limit,
        per: o.per,
        release: o.releasePerSecond === undefined ? "slot" : `rate ${o.releasePerSecond}/s`,
        dryRun: o.dryRun === true,
        ...(o.containLimit === undefined ? {} : { containScanners: o.containLimit }),
        steering: e.describe,
        ...(netns === undefined ? {} : { netns }),
      },
    };
  }

  /** After every batch of events (attempts ended: slots freed) and every tick: the queue's thread may let that many go by itself. */
  tick(): void {
    this.#enforcement?.grant(this.enforcer.fastFree());
  }

  /** After the start line: what a killed run had left, now removed. */
  write(item: WatchItem): void {
    if (item.kind !== "start" || !this.#enforcement) return;
    for (const l of this.#enforcement.leftovers) this.#o.publish({ kind: "warning", level: "note", message: `removed ${l}, left by an enforcing watch that did not exit cleanly` });
  }

  finish(): FinishFacts {
    if (!this.#enforcement) return {};
    return { enforce: this.stopRecord() };
  }

  stopRecord(): EnforceStop {
    return { ...this.enforcer.counters, queue: this.#enforcement?.stats() ?? { packets: 0, overflows: 0, unreadable: 0, verdictErrors: 0 }, processes: this.enforcer.heldProcesses() };
  }

  close(): void {
    this.#enforcement?.close(() => this.enforcer.releaseAll());
    this.#enforcement = undefined;
  }
}

function isLoopback(address: string): boolean {
  return address.startsWith("127.") || address === "::1" || address.startsWith("::ffff:127.");
}
