/**
 * The interface of every socket-table reader (/proc, Windows, macOS) and
 * PollingSource, which turns any of them into a ConnectionSource for `watch`
 * by reading the table every `intervalMs` and diffing successive snapshots
 * (core/snapshot-diff.ts).
 */
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import type { ConnectionEvent, OsLimitEvent, ProcessInfo } from "../core/events.js";
import { NoteLog, type NoteRead } from "../core/note-log.js";
import { SnapshotDiffer } from "../core/snapshot-diff.js";
import type { SocketSnapshot } from "../core/socket-table.js";
import type { ConnectionSource, SourceStats } from "./types.js";

export interface ReadOptions {
  /** Every TCP state, not only SYN_SENT. */
  allStates?: boolean;
}

/** What one read returns: the table, and what else the OS said since the last read. */
export interface SocketRead {
  snapshot: SocketSnapshot;
  /** Every process alive at the read, when the reader can list them (exit detection). */
  alivePids?: ReadonlySet<number>;
  /** OS limit events (Windows 4226) logged since the previous read. */
  osEvents?: OsLimitEvent[];
}

export interface SocketReader {
  /** "procfs", "windows", "macos". */
  readonly name: string;
  /** What this reader cannot see, said once. */
  readonly caveats: string[];
  /** How the last read was made, where a reader has more than one way (procfs: "sock_diag" or "proc_net_tcp"). */
  readonly method?: string;
  /** Check that the tools or files exist; throws HalfOpenError (TOOL_MISSING, ...) when not. */
  probe(): Promise<void>;
  /** One read of the socket table. `now` is the time stamped on the snapshot. */
  read(now: number, options?: ReadOptions): Promise<SocketRead>;
  /** The processes holding raw or packet sockets that can send TCP without connect(), where the OS tells (Linux). */
  rawSenders?(): RawSenderReport;
}

/** Processes with raw or packet sockets able to send a TCP SYN (no SYN_SENT socket: `nmap -sS`, masscan, zmap, hping3). */
export interface RawSenderReport {
  senders: { pid: number; process: ProcessInfo; sockets: { kind: "raw" | "packet"; label: string; family?: 4 | 6; protocol: number; inode: number; netns?: number }[] }[];
  warnings: string[];
}

export interface PollingSourceOptions {
  /** Time between reads. Default 1000 ms. */
  intervalMs?: number;
  /** Monotonic clock in ms (tests). */
  now?: () => number;
}

export class PollingSource implements ConnectionSource {
  readonly name: string;
  readonly exact = false;
  get pollIntervalMs(): number {
    return this.intervalMs;
  }
  readonly caveats: string[];
  readonly intervalMs: number;
  readonly #reader: SocketReader;
  readonly #differ = new SnapshotDiffer();
  readonly #now: () => number;
  readonly #stop = new AbortController();
  #records = 0;
  #reads = 0;
  #slowReads = 0;
  #warned = new Set<string>();

  constructor(reader: SocketReader, options: PollingSourceOptions = {}) {
    this.#reader = reader;
    this.name = reader.name;
    this.intervalMs = options.intervalMs ?? 1000;
    this.#now = options.now ?? (() => performance.now());
    this.caveats = [
      `polling every ${this.intervalMs} ms: a connect attempt that starts and ends between two polls is not seen, and an attempt that vanishes between polls ends as "unknown" (refused and timed out cannot be told apart)`,
      ...reader.caveats,
    ];
  }

  async start(): Promise<void> {
    await this.#reader.probe();
  }

  readonly #warnings = new NoteLog();

  warnings(since: number): NoteRead {
    return this.#warnings.since(since);
  }

  async *events(): AsyncIterable<ConnectionEvent[]> {
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      const started = this.#now();
      const read = await this.#reader.read(started);
      this.#reads++;
      this.#records += read.snapshot.rows.length;
      for (const w of read.snapshot.warnings) {
        if (!this.#warned.has(w)) {
          this.#warned.add(w);
          this.#warnings.add(w);
        }
      }
      // OS limit events after the attempts of the same read, so they join the incident those attempts open.
      const batch: ConnectionEvent[] = [...this.#differ.diff(read.snapshot, read.alivePids), ...(read.osEvents ?? [])];
      yield batch; // empty batches too: the monitor ticks and warnings flow after each read
      const spent = this.#now() - started;
      if (spent > this.intervalMs) this.#slowReads++;
      try {
        await sleep(Math.max(0, this.intervalMs - spent), undefined, { signal });
      } catch {
        break;
      }
    }
  }

  stop(): void {
    this.#stop.abort();
  }

  stats(): SourceStats & { reads: number; slowReads: number } {
    return { lostEvents: 0, records: this.#records, reads: this.#reads, slowReads: this.#slowReads };
  }

  now(): number {
    return this.#now();
  }
}
