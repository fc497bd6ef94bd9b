/**
 * The Prometheus sink of `halfopen watch --metrics-port N`: serves
 * `/metrics` (metrics/watch-metrics.ts) for as long as watch runs. Values are
 * read from the monitor at scrape time, so it needs none of the published
 * items; it owns the server and closes it, with its connections, on every
 * exit path.
 *
 * Needs: a listening TCP socket (loaded only with --metrics-port).
 */
import type { Server } from "node:http";
import type { HalfOpenMonitor } from "../../core/monitor.js";
import type { ConnectionSource } from "../../core/source.js";
import type { WatchMetricsOptions } from "../../metrics/watch-metrics.js";
import type { Sink, StartFacts } from "./sink.js";

export interface MetricsSinkOptions {
  host: string;
  port: number;
  topNames: number;
  monitor: HalfOpenMonitor;
  source: ConnectionSource;
  /** Store failures and unstored incidents, when storing. */
  store?: () => { failures: number; unstored: number };
  /** The scan detector's verdict counts. */
  verdicts?: () => { scanner: number; benign: number; trustedScanner: number };
  /** `--enforce`: the enforcer's counters and waits. */
  enforce?: WatchMetricsOptions["enforce"];
}

export class MetricsSink implements Sink {
  readonly name = "metrics";
  readonly #o: MetricsSinkOptions;
  #server?: Server;

  constructor(options: MetricsSinkOptions) {
    this.#o = options;
  }

  async open(): Promise<StartFacts> {
    const { WatchMetrics, serveMetrics } = await import("../../metrics/watch-metrics.js");
    const o = this.#o;
    const metrics = new WatchMetrics({
      monitor: o.monitor,
      source: o.source.name,
      mode: o.source.exact ? "exact" : "polling",
      topNames: o.topNames,
      ...(o.store ? { store: o.store } : {}),
      ...(o.verdicts ? { verdicts: o.verdicts } : {}),
      ...(o.enforce ? { enforce: o.enforce } : {}),
    });
    this.#server = await serveMetrics(metrics, o.host, o.port);
    return { metrics: this.url() };
  }

  /** The URL with the port really bound (`--metrics-port 0` picks one). */
  url(): string {
    const host = this.#o.host.includes(":") ? `[${this.#o.host}]` : this.#o.host;
    const address = this.#server?.address();
    return `http://${host}:${typeof address === "object" && address ? address.port : "?"}/metrics`;
  }

  close(): void {
    this.#server?.close();
    this.#server?.closeAllConnections();
    this.#server = undefined;
  }
}
